"""Parsing a file again after a small edit: only the top-level statements whose text changed.

An editor re-lints the same file after every pause in typing, and LibCST's parse of a 1,000-line
file alone takes most of a 150 ms budget. A module is a sequence of top-level statements, and
LibCST parses a statement the same way whatever surrounds it, so the file is cut into one chunk
per top-level statement (found with ``ast``, ten times faster than LibCST), each chunk is parsed
on its own -- or taken from the cache when its text is unchanged -- and the statements are put
back together into one ``Module``. The result equals LibCST's parse of the whole file
(``tests/test_incremental.py`` compares them with ``deep_equals`` over real files).

Where the pieces go, as LibCST's full parse puts them:
- a chunk is a statement with the lines before it (blank lines, comments): parsed alone they
  are its module's ``header``, which in the whole file are the statement's ``leading_lines``
  (except for the first statement, where they stay the module's header);
- comment and whitespace lines after a block, indented at least at the block's level, belong to
  its footer: the lines up to the last such line stay with the chunk before;
- what follows the last statement is the module's footer: the last chunk runs to the end.

Anything this cannot cut cleanly (a syntax error, statements sharing a line, a form feed) is
parsed whole.
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from typing import NamedTuple

import libcst as cst

from nnlint.parsing import parse_ast, parse_module


class IncrementalParser:
    """``parse(text)``, reusing the parsed statements of the previous texts (a bounded cache)."""

    def __init__(self, max_chunks: int = 4096) -> None:
        self._chunks: OrderedDict[tuple[str | None, str], cst.Module] = OrderedDict()
        self._max_chunks = max_chunks

    def parse(self, text: str) -> cst.Module:
        plan = split_statements(text)
        if plan is None or len(plan.chunks) < 2:
            return parse_module(text)
        # A chunk that repeats in this file (`plt.show()` twice) is parsed again: one node object
        # must not stand at two places of a tree (positions, flows and findings go by identity).
        used: set[tuple[str | None, str]] = set()
        try:
            first = self._chunk(None, plan.chunks[0], used)
            rest = [self._chunk(plan.indent, chunk, used) for chunk in plan.chunks[1:]]
        except cst.ParserSyntaxError:
            return parse_module(text)  # raises where the whole file's parse says
        body = list(first.body)
        for module in rest:
            body += module.body[2:]  # without the primer
        return first.with_changes(
            body=tuple(body),
            footer=rest[-1].footer,
            default_indent=plan.indent,
            has_trailing_newline=rest[-1].has_trailing_newline,
        )

    def _chunk(self, indent: str | None, text: str, used: set[tuple[str | None, str]]) -> cst.Module:
        """A chunk parsed alone; after the first, behind a primer: an indented block that makes
        LibCST detect the file's default indent (block indents are stored relative to it), then a
        plain statement, so that the chunk's leading lines become its statement's
        ``leading_lines`` (not the module's header, nor the primer block's footer)."""
        key = (indent, text)
        source = text if indent is None else f"if 1:\n{indent}pass\npass\n{text}"
        if key in used:
            return parse_module(source)
        used.add(key)
        module = self._chunks.get(key)
        if module is None:
            module = self._chunks[key] = parse_module(source)
            if len(self._chunks) > self._max_chunks:
                self._chunks.popitem(last=False)
        else:
            self._chunks.move_to_end(key)
        return module


class Plan(NamedTuple):
    chunks: list[str]
    indent: str  # the file's default indent, as LibCST detects it (its first indented block)


def split_statements(text: str) -> Plan | None:
    """The text cut before each top-level statement (with its decorators and the blank and comment
    lines before it), and the file's default indent; None when it cannot be cut cleanly."""
    if "\f" in text or "\r" in text or "\t" in text:
        return None  # LibCST and ast may count such lines and columns differently: parse whole
    try:
        tree = parse_ast(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = text.splitlines(keepends=True)
    cuts: list[int] = []  # 0-based line index where each chunk after the first starts
    previous: ast.stmt | None = None
    for statement in tree.body:
        start = min([statement.lineno, *(d.lineno for d in getattr(statement, "decorator_list", ()))])
        if previous is not None:
            previous_end = previous.end_lineno or previous.lineno
            if start <= previous_end:
                return None  # `a = 1; b = 2` or a continuation: no line to cut at
            cut = previous_end  # the line after the previous statement (0-based)
            block = _block_indent(previous, lines)
            for index in range(previous_end, start - 1):
                line = lines[index]
                if line[:1] == " " and len(line) - len(line.lstrip(" ")) >= block:
                    cut = index + 1  # indented at the block's level: its footer (and all before)
            cuts.append(cut)
        previous = statement
    bounds = [0, *cuts, len(lines)]
    return Plan(["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])], _default_indent(tree, lines))


def _block_indent(statement: ast.stmt, lines: list[str]) -> int | float:
    """How far a top-level statement's first indented line is indented (its block's level); a
    statement without one owns no lines after it (infinity)."""
    found = _first_indented(statement, lines)
    return found[1] if found is not None else float("inf")


def _first_indented(statement: ast.stmt, lines: list[str]) -> tuple[int, int] | None:
    """(line, column) of the first line inside a top-level statement that starts an indented
    statement or `case` (where LibCST's tokenizer emits its first INDENT), None if none does."""
    first: tuple[int, int] | None = None
    todo: list[ast.AST] = [statement]
    while todo:  # every statement-holding node, not the expressions (they hold no statements)
        node = todo.pop()
        for child in _blocks(node):
            if isinstance(child, ast.match_case):  # `case` starts its line; ast places the pattern
                line_number = child.pattern.lineno
                column = len(lines[line_number - 1]) - len(lines[line_number - 1].lstrip())
            else:
                line_number, column = child.lineno, child.col_offset
                if lines[line_number - 1][:column].strip():
                    column = 0  # after a colon or `;` on the same line: no INDENT there
            if column and (first is None or line_number < first[0]):
                first = (line_number, column)
            todo.append(child)
    return first


def _blocks(node: ast.AST) -> list[ast.AST]:
    """The statements (and `case`s) directly inside a node's blocks."""
    found: list[ast.AST] = []
    for name in ("body", "orelse", "finalbody", "handlers", "cases"):
        value = getattr(node, name, None)
        if isinstance(value, list):
            found += [item for item in value if isinstance(item, (ast.stmt, ast.excepthandler, ast.match_case))]
    return found


def _default_indent(tree: ast.Module, lines: list[str]) -> str:
    """LibCST's default indent: the indent of the file's first indented line (its first INDENT
    token; nothing before it is indented, so it is relative to column 0)."""
    for statement in tree.body:
        found = _first_indented(statement, lines)
        if found is not None:
            return lines[found[0] - 1][: found[1]]
    return "    "
