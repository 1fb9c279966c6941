"""Notebook documents (LSP 3.17 notebook sync): the cells linted as one module, as the CLI lints
an .ipynb file; diagnostics and fixes land in the cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types

from tests.conftest import run_cli
from tests.server.conftest import Editor, apply_edits

pytestmark = pytest.mark.asyncio

CELLS = [
    ("markdown", "# Training\n"),
    ("code", "import torch\nimport torch.nn as nn"),
    (
        "code",
        "class CNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n"
        "\n\nclass Model(nn.Module):\n    def __init__(self):\n        super(CNN, self).__init__()\n"
        "        self.fc = nn.Linear(2, 2)",
    ),
    (
        "code",
        "model = Model()\nbest = model.state_dict()\nfor step in range(3):\n    loss = model.fc(torch.ones(2)).sum()\n"
        "    loss.backward()\nmodel.load_state_dict(best)",
    ),
]


def write_ipynb(path: Path, cells: list[tuple[str, str]]) -> None:
    data = {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source, **({"outputs": [], "execution_count": None} if kind == "code" else {})}
            for kind, source in cells
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(data, indent=1))


def cell_uri(path: Path, index: int) -> str:
    return f"vscode-notebook-cell:{path}#W{index}"


def open_notebook(editor: Editor, path: Path, cells: list[tuple[str, str]]) -> tuple[str, list[str]]:
    uri = path.as_uri()
    uris = [cell_uri(path, index) for index in range(len(cells))]
    editor.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=uri,
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(kind=types.NotebookCellKind.Code if kind == "code" else types.NotebookCellKind.Markup, document=u)
                    for (kind, _), u in zip(cells, uris)
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(u, "python" if kind == "code" else "markdown", 1, source)
                for (kind, source), u in zip(cells, uris)
            ],
        )
    )
    return uri, uris


def cli_cell_findings(project: Path, path: Path) -> list[tuple[int, str, int, int]]:
    """(cell index, code, line, column), 0-based, as `nnlint` reports the .ipynb file."""
    result = run_cli("--output-format", "json", "--no-cache", str(path), cwd=project)
    return sorted((f["cell"] - 1, f["code"], f["line"] - 1, f["column"] - 1) for f in result.json() if f["type"] == "finding")


def cli_fixed_cells(project: Path, path: Path, *flags: str) -> list[str]:
    result = run_cli("--fix", "--no-cache", *flags, str(path), cwd=project)
    assert result.code in (0, 1), result.err
    return [cell["source"] for cell in json.loads(path.read_text())["cells"]]


async def all_cell_diagnostics(editor: Editor, uris: list[str], cells, after: int = 0) -> list[tuple[int, str, int, int]]:
    found = []
    for index, uri in enumerate(uris):
        if cells[index][0] != "code":
            continue
        for d in await editor.wait_for_diagnostics(uri, after=after):
            found.append((index, str(d.code), d.range.start.line, d.range.start.character))
    return sorted(found)


async def test_notebook_diagnostics_are_in_their_cells(editor, project):
    path = project / "train.ipynb"
    write_ipynb(path, CELLS)
    _, uris = open_notebook(editor, path, CELLS)
    expected = cli_cell_findings(project, path)
    assert {code for _, code, *_ in expected} == {"NN101", "NN301"}
    assert await all_cell_diagnostics(editor, uris, CELLS) == expected
    assert not any(p.uri == uris[0] for p in editor.published)  # markdown cells get nothing


async def test_a_quick_fix_may_edit_another_cell(editor, project):
    path = project / "train.ipynb"
    write_ipynb(path, CELLS)
    _, uris = open_notebook(editor, path, CELLS)
    diagnostic = next(d for d in await editor.wait_for_diagnostics(uris[3]) if d.code == "NN301")
    actions = await editor.text_document_code_action_async(
        types.CodeActionParams(types.TextDocumentIdentifier(uris[3]), diagnostic.range, types.CodeActionContext([diagnostic]))
    )
    fix = next(a for a in actions if isinstance(a, types.CodeAction) and a.title.startswith("Fix NN301"))
    assert fix.edit is not None and fix.edit.changes is not None
    assert set(fix.edit.changes) == {uris[1], uris[3]}  # `import copy` goes to the imports' cell
    fixed = [apply_edits(source, list(fix.edit.changes.get(uri, []))) for (_, source), uri in zip(CELLS, uris)]
    assert fixed == cli_fixed_cells(project, path, "--select", "NN301")


async def test_fix_all_in_a_notebook(editor, project):
    path = project / "train.ipynb"
    write_ipynb(path, CELLS)
    uri, uris = open_notebook(editor, path, CELLS)
    diagnostic = (await editor.wait_for_diagnostics(uris[3]))[0]
    actions = await editor.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uris[3]), diagnostic.range, types.CodeActionContext([diagnostic], only=["source.fixAll"])
        )
    )
    assert len(actions) == 1
    action = await editor.code_action_resolve_async(actions[0])
    assert action.edit is not None and action.edit.changes
    fixed = [apply_edits(source, list(action.edit.changes.get(u, []))) for (_, source), u in zip(CELLS, uris)]
    assert fixed == cli_fixed_cells(project, path)


async def test_editing_and_deleting_cells_relints(editor, project):
    path = project / "train.ipynb"
    write_ipynb(path, CELLS)
    uri, uris = open_notebook(editor, path, CELLS)
    assert {d.code for d in await editor.wait_for_diagnostics(uris[2])} == {"NN101"}
    seen = len(editor.published)
    old = CELLS[2][1]
    line = old.splitlines().index("        super(CNN, self).__init__()")
    start = types.Position(line, len("        super("))
    end = types.Position(line, len("        super(CNN, self"))
    editor.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(version=2, uri=uri),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(version=2, uri=uris[2]),
                            changes=[types.TextDocumentContentChangePartial(range=types.Range(start, end), text="")],
                        )
                    ]
                )
            ),
        )
    )
    assert await editor.wait_for_diagnostics(uris[2], after=seen) == []  # `super()` now
    assert {d.code for d in await editor.wait_for_diagnostics(uris[3], after=seen)} == {"NN301"}
    seen = len(editor.published)
    editor.notebook_document_did_change(  # delete the last cell
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(version=3, uri=uri),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    structure=types.NotebookDocumentCellChangeStructure(
                        array=types.NotebookCellArrayChange(start=3, delete_count=1),
                        did_close=[types.TextDocumentIdentifier(uris[3])],
                    )
                )
            ),
        )
    )
    assert await editor.wait_for_diagnostics(uris[3], after=seen) == []  # its diagnostics are cleared
