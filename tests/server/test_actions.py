"""Code actions: a finding's fix as a quick fix (safe preferred, unsafe labelled), "ignore with
# noqa", and source.fixAll.nnlint -- each applied as an editor applies it, checked against the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.conftest import REPO, run_cli
from tests.server.conftest import Editor, apply_edits, editor_capabilities, start_editor, stop_editor

pytestmark = pytest.mark.asyncio

BUGGY = (REPO / "fixtures" / "seed_notes_buggy.py").read_text()


def cli_fixed(project: Path, path: Path, text: str, *flags: str) -> str:
    """The source `nnlint --fix` makes of ``text`` (stdin in, fixed source out)."""
    result = run_cli("--fix", "--no-cache", *flags, "-", "--stdin-filename", str(path), cwd=project, stdin=text)
    assert result.code in (0, 1), result.err
    return result.out


def cli_codes(project: Path, path: Path, text: str) -> list[tuple[str, int]]:
    result = run_cli("--output-format", "json", "--no-cache", "-", "--stdin-filename", str(path), cwd=project, stdin=text)
    return sorted((f["code"], f["line"]) for f in result.json() if f["type"] == "finding")


async def actions_at(editor: Editor, uri: str, diagnostic: types.Diagnostic, only: list[str] | None = None) -> list[types.CodeAction]:
    actions = await editor.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri),
            diagnostic.range,
            types.CodeActionContext(diagnostics=[diagnostic], only=only),
        )
    )
    return [a for a in actions or [] if isinstance(a, types.CodeAction)]


def edits_of(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    assert action.edit is not None and action.edit.changes is not None
    assert set(action.edit.changes) == {uri}
    return list(action.edit.changes[uri])


async def open_buggy(editor: Editor, project: Path) -> tuple[Path, str, list[types.Diagnostic]]:
    path = project / "model.py"
    path.write_text(BUGGY)
    uri = editor.open(path)
    return path, uri, await editor.wait_for_diagnostics(uri, version=1)


async def test_safe_fix_is_a_preferred_quick_fix(editor, project):
    path, uri, diagnostics = await open_buggy(editor, project)
    nn101 = next(d for d in diagnostics if d.code == "NN101")
    actions = await actions_at(editor, uri, nn101)
    fix = next(a for a in actions if a.title.startswith("Fix NN101"))
    assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
    assert "(unsafe)" not in fix.title
    assert apply_edits(BUGGY, edits_of(fix, uri)) == cli_fixed(project, path, BUGGY, "--select", "NN101")


async def test_unsafe_fix_is_labelled_and_not_preferred(editor, project):
    path, uri, diagnostics = await open_buggy(editor, project)
    nn103 = next(d for d in diagnostics if d.code == "NN103")
    fix = next(a for a in await actions_at(editor, uri, nn103) if a.title.startswith("Fix NN103"))
    assert "(unsafe)" in fix.title and not fix.is_preferred
    expected = cli_fixed(project, path, BUGGY, "--select", "NN103", "--unsafe-fixes")
    assert apply_edits(BUGGY, edits_of(fix, uri)) == expected


async def test_noqa_action_silences_that_finding_only(editor, project):
    path, uri, diagnostics = await open_buggy(editor, project)
    nn103 = next(d for d in diagnostics if d.code == "NN103")
    actions = await actions_at(editor, uri, nn103)
    ignore = next(a for a in actions if a.title.startswith("Ignore NN103"))
    silenced = apply_edits(BUGGY, edits_of(ignore, uri))
    line = silenced.splitlines()[nn103.range.start.line]
    assert line.endswith("# noqa: NN103") or "NN103" in line.split("#", 1)[1]
    before = cli_codes(project, path, BUGGY)
    after = cli_codes(project, path, silenced)
    assert [c for c in before if c[0] != "NN103"] == after


async def test_noqa_action_extends_an_existing_noqa(editor, project):
    text = BUGGY.replace("super(CNN, self).__init__()  # expect: NN101", "super(CNN, self).__init__()  # noqa: NN999")
    path = project / "model.py"
    path.write_text(text)
    uri = editor.open(path)
    diagnostics = await editor.wait_for_diagnostics(uri, version=1)
    nn101 = next(d for d in diagnostics if d.code == "NN101")
    ignore = next(a for a in await actions_at(editor, uri, nn101) if a.title.startswith("Ignore NN101"))
    silenced = apply_edits(text, edits_of(ignore, uri))
    assert "super(CNN, self).__init__()  # noqa: NN999, NN101" in silenced
    assert "NN101" not in {code for code, _ in cli_codes(project, path, silenced)}


async def test_fix_all_applies_every_safe_fix_like_the_cli(editor, project):
    path, uri, diagnostics = await open_buggy(editor, project)
    actions = await actions_at(editor, uri, diagnostics[0], only=["source.fixAll.nnlint"])
    assert [a.kind for a in actions] == ["source.fixAll.nnlint"]
    action = actions[0]
    if action.edit is None:  # VS Code resolves lazily: so does the server
        action = await editor.code_action_resolve_async(action)
    fixed = apply_edits(BUGGY, edits_of(action, uri))
    assert fixed == cli_fixed(project, path, BUGGY)
    assert fixed != BUGGY


async def test_fix_all_answers_a_plain_source_fix_all_request(project):
    # A client that cannot resolve actions (no resolveSupport) gets the edit in the action itself.
    capabilities = editor_capabilities()
    capabilities.text_document.code_action.resolve_support = None  # type: ignore[union-attr]
    editor = await start_editor(project, capabilities=capabilities)
    try:
        path, uri, diagnostics = await open_buggy(editor, project)
        actions = await actions_at(editor, uri, diagnostics[0], only=[types.CodeActionKind.SourceFixAll])
        assert len(actions) == 1 and actions[0].edit is not None
        assert apply_edits(BUGGY, edits_of(actions[0], uri)) == cli_fixed(project, path, BUGGY)
    finally:
        await stop_editor(editor)


async def test_quick_fixes_only_when_asked_for_quick_fixes(editor, project):
    _, uri, diagnostics = await open_buggy(editor, project)
    nn101 = next(d for d in diagnostics if d.code == "NN101")
    only_fixes = await actions_at(editor, uri, nn101, only=[types.CodeActionKind.QuickFix])
    assert only_fixes and all(a.kind == types.CodeActionKind.QuickFix for a in only_fixes)
    refactors = await actions_at(editor, uri, nn101, only=[types.CodeActionKind.Refactor])
    assert refactors == []


async def test_no_actions_for_a_version_not_linted_yet(project):
    editor = await start_editor(project, options={"debounceMs": 60_000})  # the edit stays pending
    try:
        path, uri, diagnostics = await open_buggy(editor, project)
        editor.replace(uri, BUGGY + "\n# edited\n", version=2)
        actions = await actions_at(editor, uri, diagnostics[0])
        assert actions == []  # stale positions would edit the wrong text
    finally:
        await stop_editor(editor)
