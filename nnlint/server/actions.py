"""Code actions: each finding's fix as a quick fix, "ignore with `# noqa: CODE`", and the fix-all
source action (``source.fixAll.nnlint``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lsprotocol import types

from nnlint.server.core import Problem
from nnlint.server.protocol import Positions, client_column, overlaps, split_lines
from nnlint.server.publishing import Published

FIX_ALL_KIND = "source.fixAll.nnlint"
QUICK_FIX_KIND = types.CodeActionKind.QuickFix

# A `# noqa` comment and its codes, as nnlint/suppression.py reads them.
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)


def wanted(only: Sequence[str] | None, kind: str) -> bool:
    """Whether a request restricted to ``only`` kinds asks for actions of ``kind`` (a kind covers
    its sub-kinds: ``source`` asks for ``source.fixAll.nnlint``)."""
    if not only:
        return True
    return any(kind == asked or kind.startswith(asked + ".") for asked in only)


def quick_fixes(published: Published, uri: str, requested: types.Range) -> list[types.CodeAction]:
    """A fix action for each fixable finding under ``requested``, and a noqa action for each
    finding (one per rule and line)."""
    positions = published.positions(uri)
    if positions is None:
        return []
    fixes: list[types.CodeAction] = []
    ignores: list[types.CodeAction] = []
    seen_ignores: set[tuple[str, int]] = set()
    for diagnostic, problem in published.diagnostics.get(uri, []):
        if problem is None or not overlaps(diagnostic.range, requested):
            continue
        if problem.fix is not None:
            fixes.append(_fix_action(published, problem, diagnostic))
        if (problem.code, problem.span.line) not in seen_ignores:
            seen_ignores.add((problem.code, problem.span.line))
            action = _noqa_action(uri, problem, diagnostic, positions)
            if action is not None:
                ignores.append(action)
    return fixes + ignores


def _fix_action(published: Published, problem: Problem, diagnostic: types.Diagnostic) -> types.CodeAction:
    assert problem.fix is not None
    changes: dict[str, list[types.TextEdit]] = {}
    for change in problem.fix.changes:
        document = published.snapshot.document_of(change.span)
        positions = published.positions(document)
        if positions is not None:
            changes.setdefault(document, []).append(positions.edit(change))
    label = "" if problem.fix.safe else " (unsafe)"
    return types.CodeAction(
        title=f"Fix {problem.code}{label}: {problem.fix.description}",
        kind=QUICK_FIX_KIND,
        diagnostics=[diagnostic],
        is_preferred=problem.fix.safe,
        edit=types.WorkspaceEdit(changes=changes),
    )


def noqa_edit(text: str, line: int, code: str, positions: Positions) -> types.TextEdit | None:
    """The edit that adds ``code`` to line ``line``'s ``# noqa`` (or adds one); None when the
    line cannot take a comment (it continues with a backslash)."""
    lines = split_lines(text)
    if line >= len(lines):
        return None
    source = lines[line]
    if source.rstrip().endswith("\\"):
        return None
    match = _NOQA.search(source)
    if match is not None:
        if match.group("codes") is None:
            return None  # a bare noqa already covers every rule
        end = match.end("codes")
        insert = f", {code}"
        start = end
    else:
        start = len(source.rstrip())
        end = len(source)
        insert = f"  # noqa: {code}"
    encoding = positions.encoding
    return types.TextEdit(
        types.Range(
            types.Position(line, client_column(source, start, encoding)),
            types.Position(line, client_column(source, end, encoding)),
        ),
        insert,
    )


def _noqa_action(uri: str, problem: Problem, diagnostic: types.Diagnostic, positions: Positions) -> types.CodeAction | None:
    text = "\n".join(positions.lines)
    edit = noqa_edit(text, problem.span.line, problem.code, positions)
    if edit is None:
        return None
    return types.CodeAction(
        title=f"Ignore {problem.code} on this line (# noqa: {problem.code})",
        kind=QUICK_FIX_KIND,
        diagnostics=[diagnostic],
        edit=types.WorkspaceEdit(changes={uri: [edit]}),
    )


def fix_all_action(edit: types.WorkspaceEdit | None, data: object = None) -> types.CodeAction:
    """The fix-all action; without ``edit`` the client resolves it (codeAction/resolve) with
    ``data``."""
    return types.CodeAction(title="nnlint: fix all safe fixes", kind=FIX_ALL_KIND, edit=edit, data=data)
