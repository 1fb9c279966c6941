"""`json` (one array) and `json-lines` (one object per line). Findings and files that could not be
linted share the array; `type` tells them apart ("finding" or "error")."""

from __future__ import annotations

import json
from typing import IO, Any

from nnlint.findings import Edit, FileError, Finding, Fix
from nnlint.report import Report


def fix_to_dict(fix: Fix | None) -> dict[str, Any] | None:
    if fix is None:
        return None
    return {
        "applicability": fix.applicability,
        "message": fix.description,
        "edits": [_edit_to_dict(e) for e in fix.edits],
    }


def _edit_to_dict(edit: Edit) -> dict[str, Any]:
    found: dict[str, Any] = {
        "location": {"row": edit.line, "column": edit.column},
        "end_location": {"row": edit.end_line, "column": edit.end_column},
        "content": edit.content,
    }
    if edit.cell is not None:  # a notebook: rows and columns are in this cell
        found["cell"] = edit.cell
    return found


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "type": "finding",
        "code": finding.code,
        "name": finding.name,
        "message": finding.message,
        "path": finding.path,
        "cell": finding.cell,
        "line": finding.line,
        "column": finding.column,
        "end_line": finding.end_line,
        "end_column": finding.end_column,
        "fix": fix_to_dict(finding.fix),
        "url": f"nnlint rule {finding.code}",
    }


def error_to_dict(error: FileError) -> dict[str, Any]:
    return {
        "type": "error",
        "code": None,
        "name": f"{error.kind}-error",
        "message": error.message,
        "path": error.path,
        "cell": error.cell,
        "line": error.line,
        "column": error.column,
        "end_line": error.line,
        "end_column": error.column,
        "fix": None,
    }


def _objects(report: Report) -> list[dict[str, Any]]:
    items = [finding_to_dict(f) for f in report.findings] + [error_to_dict(e) for e in report.errors]
    return sorted(items, key=lambda d: (d["path"], d["cell"] or 0, d["line"] or 0, d["column"] or 0, d["code"] or ""))


def write_json(report: Report, out: IO[str]) -> None:
    json.dump(_objects(report), out, indent=2, ensure_ascii=False)
    out.write("\n")


def write_json_lines(report: Report, out: IO[str]) -> None:
    for item in _objects(report):
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
