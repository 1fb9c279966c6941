"""The workspace around a document: [tool.nnlint] reloaded when pyproject.toml changes, and
cross-file facts from open buffers (a change to model.py re-lints the open files that use it)."""

from __future__ import annotations

import pytest
from lsprotocol import types

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.asyncio

BUGGY = (REPO / "fixtures" / "seed_notes_buggy.py").read_text()
MODEL = "import torch.nn as nn\n\n\nclass Base(nn.Module):\n    pass\n"
NOT_A_MODULE = "class Base:\n    pass\n"
TRAIN = "from model import Base\n\n\nclass Net(Base):\n    def __init__(self):\n        self.hidden = 32\n"


def codes(diagnostics: list[types.Diagnostic]) -> set[str]:
    return {str(d.code) for d in diagnostics}


def watched_change(editor, path, kind=types.FileChangeType.Changed) -> None:
    editor.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams([types.FileEvent(uri=path.as_uri(), type=kind)])
    )


async def test_the_server_watches_pyproject_toml(editor, project):
    await editor.wait_for(lambda: editor.registrations, "a client/registerCapability request")
    registration = editor.registrations[0]
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    globs = [w["globPattern"] for w in registration.register_options["watchers"]]  # untyped on the wire
    assert "**/pyproject.toml" in globs


@pytest.mark.parametrize("how", ["watched-files", "did-save"])
async def test_settings_reload_when_pyproject_changes(editor, project, how):
    pyproject = project / "pyproject.toml"
    pyproject.write_text('[tool.nnlint]\nignore = ["NN101"]\n')
    path = project / "model.py"
    path.write_text(BUGGY)
    uri = editor.open(path)
    before = await editor.wait_for_diagnostics(uri, version=1)
    assert "NN101" not in codes(before) and "NN103" in codes(before)
    seen = len(editor.published)
    pyproject.write_text('[tool.nnlint]\nignore = ["NN103"]\n')
    if how == "watched-files":
        watched_change(editor, pyproject)
    else:  # the user edited pyproject.toml in the editor and saved it
        editor.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(pyproject.as_uri())))
    after = await editor.wait_for_diagnostics(uri, after=seen)
    assert "NN101" in codes(after) and "NN103" not in codes(after)


async def test_settings_are_per_folder(editor, project):
    (project / "sub").mkdir()
    (project / "sub" / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN101"]\n')
    inner, outer = project / "sub" / "model.py", project / "model.py"
    inner.write_text(BUGGY)
    outer.write_text(BUGGY)
    inner_codes = codes(await editor.wait_for_diagnostics(editor.open(inner), version=1))
    outer_codes = codes(await editor.wait_for_diagnostics(editor.open(outer), version=1))
    assert inner_codes == {"NN101"}
    assert {"NN101", "NN103"} <= outer_codes


@pytest.mark.parametrize("force", [False, True])
async def test_excluded_files_are_linted_only_without_force_exclude(editor, project, force):
    (project / "pyproject.toml").write_text(f'[tool.nnlint]\nextend-exclude = ["generated/*"]\nforce-exclude = {str(force).lower()}\n')
    (project / "generated").mkdir()
    path = project / "generated" / "model.py"
    path.write_text(BUGGY)
    diagnostics = await editor.wait_for_diagnostics(editor.open(path), version=1)
    cli = run_cli("--no-cache", "--output-format", "json", str(path), cwd=project).json()  # a file named explicitly
    assert codes(diagnostics) == {f["code"] for f in cli if f["type"] == "finding"}
    assert bool(diagnostics) is not force


async def test_a_broken_configuration_is_shown_and_defaults_apply(editor, project):
    (project / "pyproject.toml").write_text("[tool.nnlint]\nno-such-key = 1\n")
    path = project / "model.py"
    path.write_text(BUGGY)
    diagnostics = await editor.wait_for_diagnostics(editor.open(path), version=1)
    assert "NN101" in codes(diagnostics)
    await editor.wait_for(lambda: editor.messages, "a window/showMessage")
    message = editor.messages[0]
    assert message.type == types.MessageType.Error and "no-such-key" in message.message


async def test_a_change_to_an_open_model_relints_its_dependents(editor, project):
    (project / "model.py").write_text(MODEL)
    (project / "train.py").write_text(TRAIN)
    train = editor.open(project / "train.py")
    assert codes(await editor.wait_for_diagnostics(train, version=1)) == {"NN102"}  # Base is a Module
    model = editor.open(project / "model.py")
    await editor.wait_for_diagnostics(model, version=1)
    seen = len(editor.published)
    editor.replace(model, NOT_A_MODULE, version=2)  # unsaved: the buffer, not the disk, counts
    assert codes(await editor.wait_for_diagnostics(train, after=seen)) == set()
    seen = len(editor.published)
    editor.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(model)))
    assert codes(await editor.wait_for_diagnostics(train, after=seen)) == {"NN102"}  # the disk again


async def test_a_dependency_changed_on_disk_relints_its_dependents(editor, project):
    (project / "model.py").write_text(MODEL)
    (project / "train.py").write_text(TRAIN)
    train = editor.open(project / "train.py")
    assert codes(await editor.wait_for_diagnostics(train, version=1)) == {"NN102"}
    seen = len(editor.published)
    (project / "model.py").write_text(NOT_A_MODULE + "\n\n# rewritten by git checkout\n")
    watched_change(editor, project / "model.py")
    assert codes(await editor.wait_for_diagnostics(train, after=seen)) == set()
