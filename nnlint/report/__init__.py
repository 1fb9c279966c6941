"""One formatter per output format. Each takes the sorted results and writes to a stream.

Formats are imported on demand, so a run pays only for the one it prints.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from nnlint.findings import FileError, FileResult, Finding

_FORMATTERS = {
    "text": "nnlint.report.text:write_text",
    "concise": "nnlint.report.text:write_text",
    "full": "nnlint.report.text:write_full",
    "grouped": "nnlint.report.text:write_grouped",
    "json": "nnlint.report.json_format:write_json",
    "json-lines": "nnlint.report.json_format:write_json_lines",
    "sarif": "nnlint.report.sarif:write_sarif",
    "github": "nnlint.report.github:write_github",
}


@dataclass
class Report:
    results: Sequence[FileResult]
    files_checked: int
    sources: dict[str, str] = field(default_factory=dict)  # path -> text, for the `full` format
    project_root: str | None = None  # relative paths (SARIF) are relative to this

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    @property
    def errors(self) -> list[FileError]:
        return [e for r in self.results for e in r.errors]


def fixable(finding: Finding, unsafe_fixes: bool) -> bool:
    """Whether `--fix` would apply the finding's fix with the current flags (what [*] marks)."""
    return finding.fix is not None and (finding.fix.applicability == "safe" or unsafe_fixes)


class Formatter(Protocol):
    def __call__(self, report: Report, out: IO[str]) -> None: ...


def formatter(name: str) -> Formatter:
    module_name, _, func = _FORMATTERS[name].partition(":")
    return getattr(importlib.import_module(module_name), func)  # type: ignore[no-any-return]


def write_statistics(report: Report, out: IO[str]) -> None:
    """ruff's `--statistics`: count, code, fixable marker, name -- most frequent first."""
    counts: dict[str, list[Finding]] = {}
    for finding in report.findings:
        counts.setdefault(finding.code, []).append(finding)
    rows = sorted(counts.items(), key=lambda item: (-len(item[1]), item[0]))
    width = max((len(str(len(v))) for _, v in rows), default=1)
    unsafe_fixes = getattr(report, "unsafe_fixes", False)
    for code, findings in rows:
        marker = "[*]" if any(fixable(f, unsafe_fixes) for f in findings) else "[ ]"
        out.write(f"{len(findings):>{width}}\t{code}\t{marker} {findings[0].name}\n")
    errors = report.errors
    if errors:
        out.write(f"{len(errors):>{width}}\terror\t    files that could not be linted\n")
