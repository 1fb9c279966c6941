"""Human-readable formats: `text`/`concise` (one line per finding), `full` (with the source line
and a caret range, like ruff) and `grouped` (by file)."""

from __future__ import annotations

from typing import IO

from nnlint.findings import FileError, Finding
from nnlint.report import Report


def _line(finding: Finding) -> str:
    marker = " [*]" if finding.fix is not None else ""
    return f"{finding.path}:{finding.line}:{finding.column}: {finding.code}{marker} {finding.message}"


def _error_line(error: FileError) -> str:
    return f"{error.location()}: error: {error.message}"


def _summary(report: Report, out: IO[str]) -> None:
    findings, errors = report.findings, report.errors
    if not findings and not errors:
        out.write(f"All checks passed! ({_plural(report.files_checked, 'file')} checked)\n")
        return
    parts = []
    if findings:
        files = len({f.path for f in findings})
        parts.append(f"Found {_plural(len(findings), 'finding')} in {_plural(files, 'file')}")
        fixable = sum(1 for f in findings if f.fix is not None)
        if fixable:
            parts.append(f"{fixable} fixable with `--fix` (see [*])")
    if errors:
        parts.append(f"{_plural(len({e.path for e in errors}), 'file')} could not be linted")
    out.write("; ".join(parts) + f" ({_plural(report.files_checked, 'file')} checked).\n")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _ordered(report: Report) -> list[Finding | FileError]:
    items: list[Finding | FileError] = [*report.findings, *report.errors]
    return sorted(items, key=lambda i: (i.path, i.line or 0, i.column or 0))


def write_text(report: Report, out: IO[str]) -> None:
    for item in _ordered(report):
        out.write((_line(item) if isinstance(item, Finding) else _error_line(item)) + "\n")
    _summary(report, out)


def write_full(report: Report, out: IO[str]) -> None:
    for item in _ordered(report):
        if isinstance(item, FileError):
            out.write(_error_line(item) + "\n\n")
            continue
        out.write(_line(item) + "\n")
        source = report.sources.get(item.path)
        if source is not None:
            lines = source.splitlines()
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
            marker = " [*]" if item.fix is not None else ""
            out.write(f"  {item.line}:{item.column} {item.code}{marker} {item.message}\n")
        else:
            where = f"{item.line}:{item.column or 1}" if item.line else "-"
            out.write(f"  {where} error: {item.message}\n")
    if current is not None:
        out.write("\n")
    _summary(report, out)
