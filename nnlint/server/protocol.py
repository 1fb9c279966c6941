"""nnlint's values as LSP ones: positions in the client's encoding, diagnostics with their tags and
documentation links, text edits.

nnlint counts columns in code points; LSP counts UTF-16 code units unless the client and server
agreed on UTF-8 or UTF-32 (``positionEncoding``), so every column is converted on its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lsprotocol import types

from nnlint.server.core import Change, Problem, Span, Unlintable

SOURCE = "nnlint"

# Tags an editor renders differently (struck through, faded), as the rules declare them.
_TAGS = {"deprecated": types.DiagnosticTag.Deprecated, "unnecessary": types.DiagnosticTag.Unnecessary}


def tags_for(tags: frozenset[str]) -> list[types.DiagnosticTag] | None:
    return [_TAGS[tag] for tag in sorted(tags) if tag in _TAGS] or None


def split_lines(text: str) -> list[str]:
    """The lines of a document as LSP counts them (``\\n``, ``\\r\\n`` and ``\\r`` end a line)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def client_column(line: str, column: int, encoding: str) -> int:
    """A code-point column of ``line`` in the client's units."""
    prefix = line[:column]
    if encoding == types.PositionEncodingKind.Utf8:
        return len(prefix.encode("utf-8", "surrogatepass")) + max(0, column - len(line))
    if encoding == types.PositionEncodingKind.Utf32:
        return column
    return column + sum(1 for char in prefix if ord(char) > 0xFFFF)  # UTF-16: astral chars are 2


def code_point_column(line: str, units: int, encoding: str) -> int:
    """The inverse of client_column."""
    if encoding == types.PositionEncodingKind.Utf32:
        return units
    column, counted = 0, 0
    for char in line:
        if counted >= units:
            break
        if encoding == types.PositionEncodingKind.Utf8:
            counted += len(char.encode("utf-8", "surrogatepass"))
        else:
            counted += 2 if ord(char) > 0xFFFF else 1
        column += 1
    return column + max(0, units - counted)


class Positions:
    """Code-point positions of one document's text -> LSP positions, in the client's encoding."""

    def __init__(self, text: str, encoding: str) -> None:
        self.lines = split_lines(text)
        self.encoding = encoding

    def position(self, line: int, column: int) -> types.Position:
        if line >= len(self.lines):  # past the end (an insertion after the last line): clamp
            last = len(self.lines) - 1
            return types.Position(last, client_column(self.lines[last], len(self.lines[last]), self.encoding))
        text = self.lines[line]
        return types.Position(line, client_column(text, min(column, len(text)), self.encoding))

    def range(self, span: Span) -> types.Range:
        return types.Range(self.position(span.line, span.column), self.position(span.end_line, span.end_column))

    def edit(self, change: Change) -> types.TextEdit:
        content = change.content
        span = change.span
        if span.line >= len(self.lines) and content.endswith("\n") and self.lines[-1] != "":
            # Text to insert after the last line of a document that does not end with a newline
            # (a notebook cell): it goes at the end of the last line, after a line break.
            content = "\n" + content[:-1]
        return types.TextEdit(self.range(span), content)

    def code_points(self, position: types.Position) -> tuple[int, int]:
        """(line, column) in code points of an LSP position."""
        if position.line >= len(self.lines):
            return position.line, 0
        return position.line, code_point_column(self.lines[position.line], position.character, self.encoding)


@dataclass(frozen=True)
class DocsLink:
    """Where a rule's documentation lives: a URL template with ``{code}``, ``{name}`` and
    ``{anchor}`` (docs/rules.md's heading anchor, e.g. ``nn101-super-wrong-class``)."""

    template: str

    def href(self, problem: Problem) -> str:
        anchor = f"{problem.code.lower()}-{problem.name}"
        return self.template.format(code=problem.code, name=problem.name, anchor=anchor)


def diagnostic(problem: Problem, positions: Positions, docs: DocsLink | None, data: object = None) -> types.Diagnostic:
    return types.Diagnostic(
        range=positions.range(problem.span),
        message=problem.message,
        severity=types.DiagnosticSeverity.Warning,
        code=problem.code,
        code_description=types.CodeDescription(href=docs.href(problem)) if docs is not None else None,
        source=SOURCE,
        tags=tags_for(problem.tags),
        data=data,
    )


def unlintable_diagnostic(problem: Unlintable, positions: Positions) -> types.Diagnostic:
    span = problem.span or Span(0, 0, 0, 0)
    return types.Diagnostic(
        range=positions.range(span),
        message=f"nnlint cannot lint this file: {problem.message}",
        severity=types.DiagnosticSeverity.Error,
        source=SOURCE,
    )


def overlaps(first: types.Range, second: types.Range) -> bool:
    """Whether two ranges share a position (an empty range touching another counts)."""
    def key(position: types.Position) -> tuple[int, int]:
        return position.line, position.character

    return key(first.start) <= key(second.end) and key(second.start) <= key(first.end)


def contains(outer: types.Range, position: types.Position) -> bool:
    here = (position.line, position.character)
    return (outer.start.line, outer.start.character) <= here <= (outer.end.line, outer.end.character)


def whole_document(text: str, encoding: str) -> types.Range:
    lines = split_lines(text)
    return types.Range(types.Position(0, 0), types.Position(len(lines) - 1, client_column(lines[-1], len(lines[-1]), encoding)))


def edits_by_document(changes: Sequence[tuple[str, types.TextEdit]]) -> dict[str, list[types.TextEdit]]:
    grouped: dict[str, list[types.TextEdit]] = {}
    for uri, edit in changes:
        grouped.setdefault(uri, []).append(edit)
    return grouped
