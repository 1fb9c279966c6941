"""Diagnostics as an editor receives them: on open, change and save, the same findings as the CLI,
with codes, tags, documentation links and hovers."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.conftest import REPO, run_cli
from tests.server.conftest import start_editor, stop_editor

pytestmark = pytest.mark.asyncio

BUGGY = (REPO / "fixtures" / "seed_notes_buggy.py").read_text()


def cli_findings(project: Path, path: Path, text: str) -> list[tuple[str, int, int, int, int]]:
    """What `nnlint` reports for ``text`` as the file ``path``, in 0-based LSP terms."""
    result = run_cli("--output-format", "json", "--no-cache", "-", "--stdin-filename", str(path), cwd=project, stdin=text)
    assert result.code in (0, 1), result.err
    return sorted(
        (f["code"], f["line"] - 1, f["column"] - 1, f["end_line"] - 1, f["end_column"] - 1)
        for f in result.json()
        if f["type"] == "finding"
    )


def as_tuples(diagnostics: list[types.Diagnostic]) -> list[tuple[str, int, int, int, int]]:
    return sorted(
        (str(d.code), d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character)
        for d in diagnostics
    )


async def test_open_publishes_what_the_cli_finds(editor, project):
    path = project / "model.py"
    path.write_text(BUGGY)
    uri = editor.open(path)
    diagnostics = await editor.wait_for_diagnostics(uri, version=1)
    expected = cli_findings(project, path, BUGGY)
    assert expected, "the fixture must have findings"
    assert as_tuples(diagnostics) == expected
    assert {d.source for d in diagnostics} == {"nnlint"}
    assert all(d.severity == types.DiagnosticSeverity.Warning for d in diagnostics)


async def test_change_republishes_for_the_new_version(editor, project):
    path = project / "model.py"
    path.write_text(BUGGY)
    uri = editor.open(path)
    first = await editor.wait_for_diagnostics(uri, version=1)
    edited = BUGGY.replace("super(CNN, self).__init__()  # expect: NN101", "super().__init__()")
    assert edited != BUGGY
    editor.replace(uri, edited, version=2)
    second = await editor.wait_for_diagnostics(uri, version=2)
    assert "NN101" in {d.code for d in first}
    assert as_tuples(second) == cli_findings(project, path, edited)  # unsaved: the buffer is linted


async def test_save_republishes(editor, project):
    path = project / "model.py"
    path.write_text(BUGGY)
    uri = editor.open(path)
    await editor.wait_for_diagnostics(uri, version=1)
    seen = len(editor.published)
    editor.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
    again = await editor.wait_for_diagnostics(uri, after=seen)
    assert as_tuples(again) == cli_findings(project, path, BUGGY)


async def test_tags_mark_discarded_results_and_deprecated_apis(editor, project):
    text = "import torch\n\nx = torch.zeros(3)\nx.cuda()\nfrom torch.autograd import Variable\nv = Variable(x, volatile=True)\n"
    path = project / "tags.py"
    path.write_text(text)
    diagnostics = await editor.wait_for_diagnostics(editor.open(path), version=1)
    tags = {d.code: d.tags for d in diagnostics}
    assert {code for code, *_ in cli_findings(project, path, text)} == {"NN501", "NN503"} == set(tags)
    assert list(tags["NN501"]) == [types.DiagnosticTag.Unnecessary]
    assert list(tags["NN503"]) == [types.DiagnosticTag.Deprecated]


async def test_documentation_link_and_hover(project):
    editor = await start_editor(project, options={"ruleDocsUrl": "https://docs.example/rules.html#{anchor}"})
    try:
        path = project / "model.py"
        path.write_text(BUGGY)
        uri = editor.open(path)
        diagnostics = await editor.wait_for_diagnostics(uri, version=1)
        nn101 = next(d for d in diagnostics if d.code == "NN101")
        assert nn101.code_description is not None
        assert nn101.code_description.href == "https://docs.example/rules.html#nn101-super-wrong-class"
        hover = await editor.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), nn101.range.start)
        )
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert hover.contents.kind == types.MarkupKind.Markdown
        assert hover.contents.value == run_cli("rule", "NN101").out  # the page `nnlint rule NN101` prints
        nothing = await editor.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 0))
        )
        assert nothing is None
    finally:
        await stop_editor(editor)


async def test_syntax_error_is_one_error_diagnostic(editor, project):
    path = project / "broken.py"
    text = "import torch\n\ndef f(:\n    pass\n"
    path.write_text(text)
    diagnostics = await editor.wait_for_diagnostics(editor.open(path), version=1)
    assert len(diagnostics) == 1
    assert diagnostics[0].severity == types.DiagnosticSeverity.Error
    assert diagnostics[0].range.start.line == 2
    assert "syntax error" in diagnostics[0].message
