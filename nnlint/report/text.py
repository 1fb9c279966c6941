"""Human-readable formats: `text`/`concise` (one line per finding), `full` (with the source line
and a caret range, like ruff) and `grouped` (by file)."""

from __future__ import annotations

from typing import IO

from nnlint.findings import FileError, Finding
from nnlint.report import Report
from nnlint.report import fixable as _fixable


def _line(finding: Finding, unsafe_fixes: bool = False) -> str:
    marker = " [*]" if _fixable(finding, unsafe_fixes) else ""
    return f"{finding.location()}: {finding.code}{marker} {finding.message}"


def _error_line(error: FileError) -> str:
    return f"{error.location()}: error: {error.message}"


def _summary(report: Report, out: IO[str]) -> None:
    findings, errors = report.findings, report.errors
    unsafe_fixes = getattr(report, "unsafe_fixes", False)
    fixed = _fixed_summary(report)
    if not findings and not errors:
        done = f"{fixed}; no findings remain" if fixed else "All checks passed!"
        out.write(f"{done} ({_plural(report.files_checked, 'file')} checked)\n")
        return
    parts = [fixed] if fixed else []
    if findings:
        files = len({f.path for f in findings})
        found = f"{len(findings)} remaining" if fixed else f"Found {_plural(len(findings), 'finding')}"
        parts.append(f"{found} in {_plural(files, 'file')}")
        fixable = sum(1 for f in findings if _fixable(f, unsafe_fixes))
        if fixable:
            flags = "`--fix --unsafe-fixes`" if unsafe_fixes else "`--fix`"
            parts.append(f"{fixable} fixable with {flags} (see [*])")
        hidden = sum(1 for f in findings if f.fix is not None and not _fixable(f, unsafe_fixes))
        if hidden:
            parts.append(f"{_plural(hidden, 'hidden fix', 'hidden fixes')} can be enabled with `--unsafe-fixes`")
    if errors:
        parts.append(f"{_plural(len({e.path for e in errors}), 'file')} could not be linted")
    out.write("; ".join(parts) + f" ({_plural(report.files_checked, 'file')} checked).\n")


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def _fixed_summary(report: Report) -> str:
    """What `--fix` changed, when the report comes from a fix run (see nnlint/fixing.py)."""
    if not hasattr(report, "applied"):
        return ""
    from nnlint.fixing import fixed_summary

    return fixed_summary(report)  # type: ignore[arg-type]


def _ordered(report: Report) -> list[Finding | FileError]:
    items: list[Finding | FileError] = [*report.findings, *report.errors]
    return sorted(items, key=lambda i: (i.path, i.cell or 0, i.line or 0, i.column or 0))


def write_text(report: Report, out: IO[str]) -> None:
    unsafe_fixes = getattr(report, "unsafe_fixes", False)
    for item in _ordered(report):
        out.write((_line(item, unsafe_fixes) if isinstance(item, Finding) else _error_line(item)) + "\n")
    _summary(report, out)


def write_full(report: Report, out: IO[str]) -> None:
    for item in _ordered(report):
        if isinstance(item, FileError):
            out.write(_error_line(item) + "\n\n")
            continue
        out.write(_line(item, getattr(report, "unsafe_fixes", False)) + "\n")
        source = report.sources.get(item.path)
        if source is not None:
            lines = source.splitlines()
            if item.cell is not None:  # a notebook: quote the cell, not the JSON file
                from nnlint.notebooks import cell_source_lines

                lines = cell_source_lines(source, item.cell)
            if 0 < item.line <= len(lines):
                text = lines[item.line - 1]
                gutter = f"{item.line:>4} | "
                end = item.end_column if item.end_line == item.line else len(text) + 1
                width = max(1, end - item.column)
                out.write(f"{gutter}{text}\n{' ' * (len(gutter) - 2)}| {' ' * (item.column - 1)}{'^' * width}\n")
        out.write(f"     = help: `nnlint rule {item.code}` explains {item.name}\n\n")
    _summary(report, out)


def write_grouped(report: Report, out: IO[str]) -> None:
    current = None
    for item in _ordered(report):
        if item.path != current:
            if current is not None:
                out.write("\n")
            current = item.path
            out.write(f"{current}:\n")
        if isinstance(item, Finding):
            marker = " [*]" if _fixable(item, getattr(report, "unsafe_fixes", False)) else ""
            cell = f"cell {item.cell}:" if item.cell is not None else ""
            out.write(f"  {cell}{item.line}:{item.column} {item.code}{marker} {item.message}\n")
        else:
            cell = f"cell {item.cell}:" if item.cell is not None else ""
            where = f"{cell}{item.line}:{item.column or 1}" if item.line else "-"
            out.write(f"  {where} error: {item.message}\n")
    if current is not None:
        out.write("\n")
    _summary(report, out)
