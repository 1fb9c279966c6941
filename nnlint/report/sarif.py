"""`sarif`: SARIF 2.1.0, the format GitHub code scanning (and most CI dashboards) ingest.

Paths are relative to the project root (the directory of the pyproject.toml holding
``[tool.nnlint]``, or the working directory), under the ``%SRCROOT%`` base. Each result carries a
fingerprint built from the rule, the path, the text of the flagged line and the occurrence of that
text -- not the line number -- so an alert survives edits elsewhere in the file instead of being
closed and reopened. Files that could not be linted become tool execution notifications.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO, Any

from nnlint import __version__
from nnlint.findings import FileError, Finding
from nnlint.notebooks import FilePositions, Notebook, split_lines
from nnlint.report import Report
from nnlint.sources import SourceError, read_source

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/nnlint/"
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "nnlint/v1"
LEVEL = "error"  # every rule flags a bug, not a style preference


def write_sarif(report: Report, out: IO[str], project_root: str | None = None) -> None:
    json.dump(sarif_log(report, project_root or report.project_root), out, indent=2, ensure_ascii=False)
    out.write("\n")


def sarif_log(report: Report, project_root: str | None = None) -> dict[str, Any]:
    root = Path(project_root or _default_root()).resolve()
    findings = sorted(report.findings, key=Finding.sort_key)
    rules, index_of = _rules({f.code for f in findings})
    lines = _SourceLines()
    positions = FilePositions()
    occurrences: dict[tuple[str, str, str], int] = {}
    results = []
    for finding in findings:
        uri = _relative_uri(finding.path, root)
        text = lines.line(finding.path, finding.line, finding.cell).strip()
        key = (finding.code, uri, text)
        occurrence = occurrences.get(key, 0)
        occurrences[key] = occurrence + 1
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": index_of[finding.code],
            "level": LEVEL,
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": _physical_location(finding, uri, positions)}],
            "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(finding.code, uri, text, occurrence)},
        }
        if finding.cell is not None:
            result["message"]["text"] += f" (cell {finding.cell}, line {finding.line})"
            result["properties"] = {"cell": finding.cell, "cellLine": finding.line, "cellColumn": finding.column}
        results.append(result)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nnlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {SOURCE_ROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "invocations": [_invocation(report.errors, root, positions)],
                "results": results,
            }
        ],
    }


def _default_root() -> str:
    """The project root a plain `nnlint` run in this directory uses."""
    from nnlint.settings import ConfigError, load_settings

    try:
        return load_settings(None).project_root
    except ConfigError:
        return "."


def _relative_uri(path: str, root: Path) -> str:
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:  # outside the project: an absolute URI, which needs no base
        return absolute.as_uri()


def _artifact(uri: str) -> dict[str, str]:
    return {"uri": uri} if uri.startswith("file:") else {"uri": uri, "uriBaseId": SOURCE_ROOT}


def _physical_location(finding: Finding, uri: str, positions: FilePositions) -> dict[str, Any]:
    region = {
        "startLine": finding.line,
        "startColumn": finding.column,
        "endLine": finding.end_line,
        "endColumn": finding.end_column,
    }
    if finding.cell is not None:  # point into the .ipynb file itself
        start = positions(finding.path, finding.cell, finding.line, finding.column)
        end = positions(finding.path, finding.cell, finding.end_line, finding.end_column)
        region = {"startLine": 1} if start is None else {"startLine": start[0], "startColumn": start[1]}
        if start is not None and end is not None:
            region.update(endLine=end[0], endColumn=end[1])
    return {"artifactLocation": _artifact(uri), "region": region}


def _fingerprint(code: str, uri: str, text: str, occurrence: int) -> str:
    data = "\0".join((code, uri, text, str(occurrence)))
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _invocation(errors: list[FileError], root: Path, positions: FilePositions) -> dict[str, Any]:
    notifications = []
    for error in sorted(errors, key=lambda e: (e.path, e.cell or 0, e.line or 0)):
        location: dict[str, Any] = {"artifactLocation": _artifact(_relative_uri(error.path, root))}
        if error.line is not None:
            place = (error.line, error.column or 1)
            if error.cell is not None:
                place = positions(error.path, error.cell, error.line, error.column or 1) or (1, 1)
            location["region"] = {"startLine": place[0], "startColumn": place[1]}
        notifications.append(
            {
                "level": "error",
                "message": {"text": f"{error.location()}: {error.message}"},
                "descriptor": {"id": f"{error.kind}-error"},
                "locations": [{"physicalLocation": location}],
            }
        )
    return {"executionSuccessful": not errors, "toolExecutionNotifications": notifications}


def _rules(codes: set[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Descriptors of the rules that have results, by code, and each one's index."""
    from nnlint.registry import Registry

    registry = Registry.with_plugins() if codes else None
    descriptors = []
    for code in sorted(codes):
        assert registry is not None
        known = registry.lookup(code)
        if known is None:  # cannot happen for findings nnlint produced; keep the log valid anyway
            descriptors.append({"id": code, "defaultConfiguration": {"level": LEVEL}})
            continue
        descriptors.append(_rule_descriptor(registry.load(known)))
    return descriptors, {d["id"]: index for index, d in enumerate(descriptors)}


def _rule_descriptor(rule: type) -> dict[str, Any]:
    from nnlint.docs import rule_page

    text = "\n\n".join(
        part
        for part in (
            rule.what,
            f"Why is this bad? {rule.why}",
            f"Example:\n{rule.example_text().rstrip()}" if rule.example_text() else "",
            f"Use instead:\n{rule.use_instead_text().rstrip()}" if rule.use_instead_text() else "",
            f"Fix safety: {rule.fix_safety}",
        )
        if part
    )
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what},
        "help": {"text": text, "markdown": rule_page(rule)},
        "defaultConfiguration": {"level": LEVEL},
        "properties": {"tags": ["pytorch", "correctness"], "fix": rule.fix_availability},
    }


class _SourceLines:
    """The text of a file's lines (a notebook's: of a cell), read once per file."""

    def __init__(self) -> None:
        self._files: dict[str, str | Notebook | None] = {}

    def line(self, path: str, line: int, cell: int | None) -> str:
        if path not in self._files:
            try:
                text = read_source(path).text
                self._files[path] = Notebook.from_text(text, path) if cell is not None else text
            except SourceError:
                self._files[path] = None
        loaded = self._files[path]
        if loaded is None:
            return ""
        lines = loaded.cell_lines(cell or 1) if isinstance(loaded, Notebook) else split_lines(loaded)
        return lines[line - 1].rstrip("\r\n") if 0 < line <= len(lines) else ""
