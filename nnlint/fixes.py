"""Fixes: from the node replacements rules propose to text edits, and applying edits to text."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from nnlint.findings import Edit, Fix
from nnlint.positions import Range
from nnlint.rule import NodeFix


def to_text_fix(module: cst.Module, fix: NodeFix, ranges: dict[cst.CSTNode, Range]) -> Fix | None:
    edits = []
    for old, new in fix.replacements:
        where = ranges.get(old)
        if where is None:
            return None  # cannot place it: offer no fix rather than a wrong one
        content = new if isinstance(new, str) else module.code_for_node(new)
        edits.append(Edit(where[0], where[1], where[2], where[3], content))
    edits.extend(import_edits(module, fix.imports))
    return Fix(fix.applicability, fix.description, tuple(edits))


def import_edits(module: cst.Module, imports: Sequence[str]) -> list[Edit]:
    """Edits inserting ``imports`` that the module does not already have, after its existing
    top-level imports (or after the docstring and ``__future__`` imports)."""
    if not imports:
        return []
    existing = set()
    insert_after = 0  # index of the first statement to insert before
    for index, statement in enumerate(module.body):
        if isinstance(statement, cst.SimpleStatementLine):
            first = statement.body[0] if statement.body else None
            if isinstance(first, (cst.Import, cst.ImportFrom)):
                existing.add(module.code_for_node(statement).strip())
                insert_after = index + 1
                continue
            if index == 0 and isinstance(first, cst.Expr) and isinstance(first.value, (cst.SimpleString, cst.ConcatenatedString)):
                insert_after = 1
                continue
        if insert_after:
            break
    missing = [line for line in imports if line not in existing]
    if not missing:
        return []
    # Count lines up to the insertion point from the module's header and statements.
    line = 1 + sum(len(module.code_for_node(e).splitlines()) for e in module.header)
    for statement in module.body[:insert_after]:
        line += module.code_for_node(statement).count("\n")
    text = "".join(f"{imp}{module.default_newline}" for imp in missing)
    return [Edit(line, 1, line, 1, text)]


def apply_edits(source: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (1-based lines and columns) to ``source``."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for text in lines:
        offsets.append(offsets[-1] + len(text))

    def offset(line: int, column: int) -> int:
        if line > len(lines):
            return len(source)
        return offsets[line - 1] + column - 1

    result = source
    for edit in sorted(edits, key=lambda e: (e.line, e.column), reverse=True):
        start, end = offset(edit.line, edit.column), offset(edit.end_line, edit.end_column)
        result = result[:start] + edit.content + result[end:]
    return result
