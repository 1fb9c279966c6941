"""`github`: GitHub Actions workflow commands, which become annotations on the pull request.

``::error file=F,line=L,col=C,endLine=E,endColumn=EC,title=T::MESSAGE``. GitHub rejects
``col``/``endColumn`` on an annotation that spans several lines, so those are left out there.
Messages escape ``%``, CR and LF; property values also ``:`` and ``,``. A notebook finding points
at the line of the ``.ipynb`` file that holds the cell's text, and names the cell in its message.
"""

from __future__ import annotations

from typing import IO

from nnlint.findings import FileError, Finding
from nnlint.notebooks import FilePositions
from nnlint.report import Report


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(properties: list[tuple[str, object]], message: str, command: str = "error") -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
    return f"::{command} {props}::{escape_data(message)}"


def _finding_command(finding: Finding, positions: FilePositions) -> str:
    start = (finding.line, finding.column)
    end = (finding.end_line, finding.end_column)
    message = finding.message
    if finding.cell is not None:
        start = positions(finding.path, finding.cell, finding.line, finding.column) or (1, 1)
        end = positions(finding.path, finding.cell, finding.end_line, finding.end_column) or (start[0], start[1] + 1)
        message = f"cell {finding.cell}, line {finding.line}: {message}"
    properties: list[tuple[str, object]] = [("file", finding.path), ("line", start[0])]
    if end[0] == start[0]:
        properties += [("col", start[1]), ("endLine", end[0]), ("endColumn", end[1])]
    else:
        properties += [("endLine", end[0])]
    properties.append(("title", f"{finding.code} {finding.name}"))
    return workflow_command(properties, message)


def _error_command(error: FileError, positions: FilePositions) -> str:
    properties: list[tuple[str, object]] = [("file", error.path)]
    message = error.message
    if error.line is not None:
        place: tuple[int, int | None] = (error.line, error.column)
        if error.cell is not None:
            place = positions(error.path, error.cell, error.line, error.column or 1) or (1, None)
            message = f"cell {error.cell}, line {error.line}: {message}"
        properties.append(("line", place[0]))
        if place[1] is not None:
            properties.append(("col", place[1]))
    properties.append(("title", f"nnlint {error.kind} error"))
    return workflow_command(properties, message)


def write_github(report: Report, out: IO[str]) -> None:
    positions = FilePositions()
    items: list[Finding | FileError] = [*report.findings, *report.errors]
    items.sort(key=lambda i: (i.path, i.cell or 0, i.line or 0, i.column or 0))
    for item in items:
        line = _finding_command(item, positions) if isinstance(item, Finding) else _error_command(item, positions)
        out.write(line + "\n")
