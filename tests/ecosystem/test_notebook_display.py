"""A notebook cell's last expression statement is displayed by Jupyter, not thrown away: NN501
(tensor-op-result-discarded) leaves it alone, and flags the same line elsewhere in the cell, after
`;` (display suppressed), inside a block, or in a `# %%` cell of a `.py` file (Python displays
nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import libcst as cst

from nnlint.context import FileContext
from nnlint.notebooks import Notebook, displayed_expressions
from tests.ecosystem.helpers import notebook_json

SETUP = "import torch\n\nt = torch.zeros(3)"


def _nn501(cli, path: str, cwd: Path, stdin: str | None = None) -> list[tuple[int | None, int]]:
    args = ["--isolated", "--no-cache", "--select", "NN501", "--output-format", "json"]
    if stdin is not None:
        result = cli(*args, "--stdin-filename", path, "-", cwd=cwd, stdin=stdin)
    else:
        result = cli(*args, path, cwd=cwd)
    assert result.code in (0, 1), result.err
    return [(item["cell"], item["line"]) for item in result.json() if item["type"] == "finding"]


def test_a_cells_last_expression_is_displayed_not_discarded(cli, tmp_path):
    (tmp_path / "nb.ipynb").write_text(notebook_json([SETUP, "t.cuda()", "t.float()  # shows the value\n\n"]))
    assert _nn501(cli, "nb.ipynb", tmp_path) == []


def test_the_same_call_not_last_after_a_semicolon_or_in_a_block_is_discarded(cli, tmp_path):
    cells = [
        SETUP,
        "t.cuda()\nprint(t)",  # not the last statement
        "t.cuda();",  # `;` suppresses the display
        "t.cuda()  ;  # quiet",
        "if True:\n    t.cuda()",  # inside a block: never displayed
        "for _ in range(2):\n    t.float()\n# a trailing comment",
        "t.float(); t.cuda()",  # only the last expression of the line is displayed
        "t.half()\n%timeit t.sum()",  # the masked magic is the cell's last line
        ("markdown", "# Notes"),
        "t.double()\n# a comment is not a statement",  # displayed
    ]
    (tmp_path / "nb.ipynb").write_text(notebook_json(cells))
    assert _nn501(cli, "nb.ipynb", tmp_path) == [(2, 1), (3, 1), (4, 1), (5, 2), (6, 2), (7, 1), (8, 1)]


def test_stdin_notebook_and_fix_agree(cli, tmp_path):
    text = notebook_json([SETUP, "t.cuda()\nt.float()", "t.half()"])
    assert _nn501(cli, "nb.ipynb", tmp_path, stdin=text) == [(2, 1)]
    (tmp_path / "nb.ipynb").write_text(text)
    result = cli("--isolated", "--no-cache", "--select", "NN501", "--fix", "nb.ipynb", cwd=tmp_path)
    assert result.code == 0, result.out + result.err
    sources = ["".join(cell["source"]) for cell in json.loads((tmp_path / "nb.ipynb").read_text())["cells"]]
    assert sources[1:] == ["t = t.cuda()\nt.float()", "t.half()"]  # the displayed lines stay


def test_percent_cells_in_a_py_file_are_not_displayed(cli, tmp_path):
    # jupytext percent format (Lightning tutorials): run as a script, nothing is displayed.
    (tmp_path / "tutorial.py").write_text("# %%\nimport torch\n\nt = torch.zeros(3)\n\n# %%\nt.cuda()\n\n# %%\nt.float()\n")
    assert _nn501(cli, "tutorial.py", tmp_path) == [(None, 7), (None, 10)]


def _displayed(cells: list, path: str = "nb.ipynb") -> list[str]:
    notebook = Notebook.from_text(notebook_json(cells), path)
    module = cst.parse_module(notebook.text)
    ctx = FileContext(path, notebook.text, module, None, None)  # type: ignore[arg-type]
    return sorted(module.code_for_node(node).strip() for node in ctx.shared(displayed_expressions))


def test_displayed_expressions_is_general():
    cells = ["a = 1\na", "b", "if a:\n    c", "d;", "%%time\ne", "f\n%matplotlib inline", "g\n", "", "x = 1\nh"]
    assert _displayed(cells) == ["a", "b", "e", "g", "h"]
    assert _displayed(cells, "nb.py") == []
