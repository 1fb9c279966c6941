"""The pipeline: Sources (a file, a notebook, a buffer) and the Workspace the linter reads through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnlint.fixing import FixMode, fix_source
from nnlint.notebooks import NotebookSource
from nnlint.registry import Registry
from nnlint.runner import FileLinter
from nnlint.settings import Settings
from nnlint.sources import Source, SourceError
from nnlint.workspace import Workspace, source_for

NOT_A_MODULE = "class Base:\n    pass\n"
A_MODULE = "import torch.nn as nn\n\n\nclass Base(nn.Module):\n    pass\n"
SUBCLASS = "from base import Base\n\n\nclass Net(Base):\n    def __init__(self):\n        self.size = 3\n"


def _linter(root: Path, workspace: Workspace | None = None) -> FileLinter:
    return FileLinter(Settings(project_root=str(root)), Registry(), [root], workspace=workspace)


def _codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [finding.code for finding in result.findings]


def test_an_open_buffer_overrides_the_disk_for_cross_file_facts(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text(NOT_A_MODULE)
    train = tmp_path / "train.py"
    train.write_text(SUBCLASS)
    workspace = Workspace()
    linter = _linter(tmp_path, workspace)
    assert "NN102" not in _codes(linter.lint_path(str(train)))  # Base is no Module on disk

    workspace.set_buffer(tmp_path / "base.py", A_MODULE)  # edited in the editor, not saved
    linter.forget(str(tmp_path / "base.py"))
    assert "NN102" in _codes(linter.lint_path(str(train)))
    assert linter.dependencies() == [str((tmp_path / "base.py").resolve())]

    workspace.drop_buffer(tmp_path / "base.py")  # closed without saving
    linter.forget(str(tmp_path / "base.py"))
    assert "NN102" not in _codes(linter.lint_path(str(train)))


def test_without_forget_the_linter_keeps_what_it_learnt(tmp_path: Path) -> None:
    """What `forget` is for: a long-lived linter memoises other files' summaries."""
    (tmp_path / "base.py").write_text(NOT_A_MODULE)
    train = tmp_path / "train.py"
    train.write_text(SUBCLASS)
    workspace = Workspace()
    linter = _linter(tmp_path, workspace)
    linter.lint_path(str(train))
    workspace.set_buffer(tmp_path / "base.py", A_MODULE)
    assert "NN102" not in _codes(linter.lint_path(str(train)))


def test_the_linted_file_itself_is_read_from_its_buffer(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text(A_MODULE)
    train = tmp_path / "train.py"
    train.write_text("x = 1\n")
    workspace = Workspace()
    workspace.set_buffer(train, SUBCLASS)
    assert "NN102" in _codes(_linter(tmp_path, workspace).lint_path(str(train)))


def test_a_buffer_with_a_coding_declaration_reads_back_as_its_text(tmp_path: Path) -> None:
    workspace = Workspace()
    text = "# -*- coding: latin-1 -*-\nname = 'caf\u00e9'\n"
    workspace.set_buffer(tmp_path / "m.py", text)
    assert workspace.read_text(str(tmp_path / "m.py")) == text
    assert workspace.read_bytes(str(tmp_path / "m.py")) == text.encode("latin-1")
    workspace.set_buffer(tmp_path / "u.py", "name = 'caf\u00e9'\n")
    assert workspace.read_text(str(tmp_path / "u.py")) == "name = 'caf\u00e9'\n"


def test_source_for_picks_the_kind_by_suffix() -> None:
    notebook = json.dumps({"cells": [{"cell_type": "code", "source": "x = 1\n"}], "metadata": {}, "nbformat": 4})
    assert type(source_for("a.py", b"x = 1\n")) is Source
    assert isinstance(source_for("a.ipynb", notebook.encode()), NotebookSource)
    with pytest.raises(SourceError, match="not a valid notebook"):
        source_for("a.ipynb", b"x = 1\n")


def _notebook(*cells: str) -> str:
    return json.dumps(
        {
            "cells": [{"cell_type": "markdown", "source": "# title"}]
            + [{"cell_type": "code", "source": cell, "outputs": [], "metadata": {}} for cell in cells],
            "metadata": {"language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


SNAPSHOT_CELLS = (
    "import torch\nmodel = torch.nn.Linear(2, 2)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
    "best = model.state_dict()\nfor _ in range(3):\n    model(torch.zeros(2)).sum().backward()\n    opt.step()\n"
    "model.load_state_dict(best)\n",
)


def test_a_notebook_source_reports_in_cell_coordinates(tmp_path: Path) -> None:
    source = NotebookSource.from_text(_notebook(*SNAPSHOT_CELLS), "n.ipynb")
    result = _linter(tmp_path).lint_source(source)
    located = [(f.code, f.cell, f.line) for f in result.findings]
    assert located == [("NN301", 3, 1), ("NN401", 3, 4)]  # the markdown cell is cell 1
    edits = result.findings[0].fix.edits  # type: ignore[union-attr]
    # The fix adds `import copy` to the imports' cell and rewrites the snapshot in its own cell.
    assert sorted((e.cell, e.line, e.content.strip()) for e in edits if e.content.strip()) == [
        (2, 2, "import copy"),
        (3, 1, "copy.deepcopy(model.state_dict())"),
    ]


def test_fixing_a_notebook_locates_findings_in_the_fixed_cells(tmp_path: Path) -> None:
    """NN301's fix adds `import copy` to the first code cell: the finding left after fixing
    (NN401, in the last cell) is placed with the fixed notebook's line map, not the original one."""
    source = NotebookSource.from_text(_notebook(*SNAPSHOT_CELLS), "n.ipynb")
    fixed = fix_source(_linter(tmp_path), source, FixMode.from_flags(True, False, True))
    assert fixed.applied.get("NN301") == 1, fixed
    after = NotebookSource.from_text(fixed.new_data.decode(), "n.ipynb")  # type: ignore[union-attr]
    assert "copy.deepcopy(model.state_dict())" in after.notebook.data["cells"][2]["source"]
    assert "n.ipynb:cell 3" in fixed.diff
    assert "import copy" in after.notebook.data["cells"][1]["source"]
    assert [(f.code, f.cell, f.line) for f in fixed.findings] == [("NN401", 3, 4)]
