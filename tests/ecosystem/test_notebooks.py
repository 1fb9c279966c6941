"""Jupyter notebooks: code cells linted as one module, findings reported per cell, IPython
syntax masked, noqa honoured, and fixes written back without touching outputs or metadata."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from nnlint.notebooks import CELL_BOUNDARY, Notebook
from nnlint.report import Report
from nnlint.report.sarif import sarif_log
from tests.conftest import REPO
from tests.ecosystem.helpers import BUGGY_MODEL, SEED_RULES, notebook_json

SEED_NOTES = REPO / "fixtures" / "seed_notes_buggy.py"


def _findings(cli, *args: str, cwd: Path) -> list[dict]:
    result = cli("--isolated", "--select", SEED_RULES, "--output-format", "json", *args, cwd=cwd)
    assert result.code in (0, 1), result.err
    return [item for item in result.json() if item["type"] == "finding"]


def _split_at_top_level_definitions(source: str) -> list[tuple[int, str]]:
    """(first line, text) of cells cut before every top-level `class`/`def`."""
    lines = source.splitlines(keepends=True)
    starts = [0] + [i for i, line in enumerate(lines) if i and line.startswith(("class ", "def "))]
    return [(start + 1, "".join(lines[start:end])) for start, end in zip(starts, [*starts[1:], len(lines)])]


def test_notebook_gets_the_same_findings_as_the_same_code_in_a_py_file(cli, tmp_path):
    source = SEED_NOTES.read_text()
    (tmp_path / "notes.py").write_text(source)
    cells = _split_at_top_level_definitions(source)
    assert len(cells) > 4
    # A markdown cell in front: cell numbers count every cell, as Jupyter shows them.
    (tmp_path / "notes.ipynb").write_text(notebook_json([("markdown", "# Notes"), *(text for _, text in cells)]))

    from_py = _findings(cli, "notes.py", cwd=tmp_path)
    from_notebook = _findings(cli, "notes.ipynb", cwd=tmp_path)

    assert {f["code"] for f in from_py} >= {"NN101", "NN102", "NN103"}
    first_line_of_cell = {number: first for number, (first, _) in enumerate(cells, 2)}
    mapped = [
        (f["code"], f["message"], first_line_of_cell[f["cell"]] + f["line"] - 1, f["column"]) for f in from_notebook
    ]
    assert mapped == [(f["code"], f["message"], f["line"], f["column"]) for f in from_py]
    assert all(f["cell"] is None for f in from_py)


def test_a_class_defined_in_one_cell_is_known_in_a_later_one(cli, tmp_path):
    (tmp_path / "nb.ipynb").write_text(
        notebook_json(
            [
                "import torch\nfrom torch import nn",
                "class Base(nn.Module):\n    pass",
                "class Model(Base):\n    def __init__(self):\n        super().__init__()\n        self.mask = torch.ones(3)",
            ]
        )
    )
    result = cli("--isolated", "--select", SEED_RULES, "nb.ipynb", cwd=tmp_path)
    assert result.code == 1
    assert result.out.startswith("nb.ipynb:cell 3:4:9: NN103 ")
    assert "`self.mask` in `Model.__init__` is a plain tensor" in result.out.splitlines()[0]
    full = cli("--isolated", "--select", SEED_RULES, "--output-format", "full", "nb.ipynb", cwd=tmp_path)
    assert full.out.splitlines()[1:3] == ["   4 |         self.mask = torch.ones(3)", "     |         ^^^^^^^^^"]


def test_ipython_syntax_is_masked_and_the_rest_is_linted(cli, tmp_path):
    cells = [
        "%matplotlib inline\n!pip install torch \\\n    torchvision\nimport torch\nimport torch.nn as nn\nfiles = !ls\n?nn.Module\nnn.Linear??",
        "%%time\nclass Model(nn.Module):\n    def __init__(self):\n        super(CNN, self).__init__()\n        for _ in range(2):\n            %timeit pass\n        total = (1\n            % 2)",
        "%%bash\necho 'class Broken(nn.Module): def'",
    ]
    (tmp_path / "nb.ipynb").write_text(notebook_json(cells))
    result = cli("--isolated", "--select", SEED_RULES, "nb.ipynb", cwd=tmp_path)
    assert result.err == ""
    assert result.out.splitlines()[0] == (
        "nb.ipynb:cell 2:4:9: NN101 [*] `super(CNN, self)` in class `Model` names `CNN`, which is not "
        "`Model` or one of its bases; use `super()` (or `super(Model, self)`)"
    )
    notebook = Notebook.from_text((tmp_path / "nb.ipynb").read_text())
    assert notebook.text.splitlines() == [
        "# nnlint: ipython",
        "# nnlint: ipython",
        "# nnlint: ipython",  # the continuation of the shell escape
        "import torch",
        "import torch.nn as nn",
        "# nnlint: ipython",
        "# nnlint: ipython",
        "# nnlint: ipython",
        CELL_BOUNDARY.strip(),
        "# nnlint: ipython",
        "class Model(nn.Module):",
        "    def __init__(self):",
        "        super(CNN, self).__init__()",
        "        for _ in range(2):",
        "            pass  # nnlint: ipython",  # a block's only statement must stay a statement
        "        total = (1",
        "            % 2)",  # the modulo operator inside brackets is Python, not a magic
    ]


def test_noqa_in_a_cell_and_file_level_noqa_are_honoured(cli, tmp_path):
    cell = BUGGY_MODEL.replace("super(CNN, self).__init__()", "super(CNN, self).__init__()  # noqa: NN101")
    (tmp_path / "nb.ipynb").write_text(notebook_json([cell]))
    codes = [f["code"] for f in _findings(cli, "nb.ipynb", cwd=tmp_path)]
    assert codes == ["NN103"]

    (tmp_path / "nb.ipynb").write_text(notebook_json(["# nnlint: noqa", BUGGY_MODEL]))
    assert _findings(cli, "nb.ipynb", cwd=tmp_path) == []


def test_notebooks_are_discovered_by_default_and_other_kernels_are_skipped(cli, tmp_path):
    (tmp_path / "model.ipynb").write_text(notebook_json([BUGGY_MODEL]))
    (tmp_path / "other.ipynb").write_text(notebook_json(["class X(nn.Module): syntax of another language"], language="julia"))
    result = cli("--isolated", "--show-files", ".", cwd=tmp_path)
    assert result.out.split() == ["model.ipynb", "other.ipynb"]
    findings = _findings(cli, ".", cwd=tmp_path)
    assert {(f["path"], f["code"]) for f in findings} == {("model.ipynb", "NN101"), ("model.ipynb", "NN103")}


def test_broken_notebooks_are_one_line_errors_with_cell_locations(cli, tmp_path):
    (tmp_path / "bad.ipynb").write_text('{"cells": [')
    (tmp_path / "old.ipynb").write_text('{"worksheets": [], "nbformat": 3}')
    (tmp_path / "syntax.ipynb").write_text(notebook_json(["import torch", "def f(:\n    pass"]))
    result = cli("--isolated", "--select", SEED_RULES, ".", cwd=tmp_path)
    assert result.code == 2
    lines = result.out.splitlines()
    assert lines[0].startswith("bad.ipynb:1: error: not a valid notebook: invalid JSON")
    assert lines[1].startswith("old.ipynb: error: nbformat 3 notebooks are not supported")
    assert lines[2].startswith("syntax.ipynb:cell 2:1:")
    assert "syntax error" in lines[2]


def test_sarif_and_github_point_into_the_ipynb_file(tmp_path, monkeypatch):
    from nnlint.registry import Registry
    from nnlint.report.github import write_github
    from nnlint.runner import FileLinter
    from nnlint.settings import Settings

    # Quotes, a backslash and a non-ASCII character before the finding: escaped in the JSON text.
    cell = 'import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        s = "é\\\\\\""; super(CNN, self).__init__()\n'
    raw = notebook_json([("markdown", "text"), cell])
    path = tmp_path / "nb.ipynb"
    path.write_text(raw)
    monkeypatch.chdir(tmp_path)
    settings = Settings(select=("NN101",), project_root=str(tmp_path))
    result = FileLinter(settings, Registry(), [tmp_path]).lint_path("nb.ipynb")
    (finding,) = result.findings
    assert (finding.cell, finding.line, finding.column) == (2, 5, 22)

    raw_lines = raw.splitlines()
    line_number = next(n for n, text in enumerate(raw_lines, 1) if "super(CNN" in text)
    column = raw_lines[line_number - 1].index("super(CNN") + 1
    log = sarif_log(Report([result], 1), str(tmp_path))
    (sarif_result,) = log["runs"][0]["results"]
    region = sarif_result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (line_number, column)
    assert region["endColumn"] - region["startColumn"] == len("super(CNN, self)")
    assert sarif_result["properties"] == {"cell": 2, "cellLine": 5, "cellColumn": 22}

    out = []
    write_github(Report([result], 1), type("Out", (), {"write": lambda self, text: out.append(text)})())
    assert out[0].startswith(
        f"::error file=nb.ipynb,line={line_number},col={column},endLine={line_number},endColumn={column + 16},"
        "title=NN101 super-wrong-class::cell 2, line 5: `super(CNN, self)`"
    )


def test_fix_rewrites_only_the_changed_cell_sources(cli, tmp_path):
    cells = [
        "%matplotlib inline\nimport torch",
        "def fit(model, opt, loader):\n    best = model.state_dict()\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n    return best",
        "class Model(torch.nn.Module):\n    def __init__(self):\n        super(Other, self).__init__()\n    !echo done",
    ]
    before = notebook_json(cells)
    path = tmp_path / "nb.ipynb"
    path.write_text(before)
    result = cli("--isolated", "--select", SEED_RULES, "--fix", "nb.ipynb", cwd=tmp_path)
    assert result.code == 0, result.out + result.err
    after = path.read_text()
    old, new = json.loads(before), json.loads(after)
    # Outputs, metadata and the untouched markdown of the file are unchanged.
    assert [c["outputs"] for c in new["cells"]] == [c["outputs"] for c in old["cells"]]
    assert new["metadata"] == old["metadata"]
    assert new["cells"][0]["source"] == ["%matplotlib inline\n", "import torch\n", "import copy"]
    assert new["cells"][1]["source"][1] == "    best = copy.deepcopy(model.state_dict())\n"
    assert new["cells"][2]["source"] == [
        "class Model(torch.nn.Module):\n",
        "    def __init__(self):\n",
        "        super().__init__()\n",
        "    !echo done",
    ]
    # Only those source lines changed: the rest of the file is byte for byte what Jupyter wrote.
    diff = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:2] in ("- ", "+ ")]
    element = lambda text, comma=",": f"    {json.dumps(text, ensure_ascii=False)}{comma}"  # noqa: E731
    assert sorted(diff) == sorted(
        [
            "- " + element("import torch", ""),
            "+ " + element("import torch\n"),
            "+ " + element("import copy", ""),
            "- " + element("    best = model.state_dict()\n"),
            "+ " + element("    best = copy.deepcopy(model.state_dict())\n"),
            "- " + element("        super(Other, self).__init__()\n"),
            "+ " + element("        super().__init__()\n"),
        ]
    )


def test_render_keeps_the_file_byte_for_byte_when_nothing_changes():
    raw = notebook_json(["%time x = 1\nimport torch", ("markdown", "m"), "y = 2"])
    notebook = Notebook.from_text(raw)
    assert notebook.render(notebook.text) == raw
    edited = notebook.text.replace("y = 2", "y = 3")
    rendered = notebook.render(edited)
    assert rendered == raw.replace('"y = 2"', '"y = 3"')


@pytest.mark.parametrize(
    "broken",
    [
        lambda text: text.replace(CELL_BOUNDARY, ""),  # cells merged
        lambda text: text.replace("# nnlint: ipython\n", "", 1),  # a magic line deleted
    ],
)
def test_render_refuses_a_text_whose_cells_cannot_be_matched(broken):
    from nnlint.sources import SourceError

    notebook = Notebook.from_text(notebook_json(["%time x = 1\nimport torch", "y = 2"]))
    with pytest.raises(SourceError, match="cannot write fixes back"):
        notebook.render(broken(notebook.text))


STDIN_CELLS = [
    "import torch\nfrom torch import nn",
    "class Model(nn.Module):\n    def __init__(self):\n        super(Other, self).__init__()\n        self.mask = torch.ones(3)",
]


def test_stdin_with_an_ipynb_filename_is_linted_as_a_notebook(cli, tmp_path):
    """An editor or pre-commit passing a notebook's buffer on stdin gets cell locations, exactly
    as for the file on disk (the JSON is not linted as Python)."""
    text = notebook_json(STDIN_CELLS)
    (tmp_path / "nb.ipynb").write_text(text)
    from_file = _findings(cli, "nb.ipynb", cwd=tmp_path)
    from_stdin = [
        item
        for item in json.loads(
            cli("--isolated", "--select", SEED_RULES, "--output-format", "json", "--stdin-filename", "nb.ipynb", "-", stdin=text, cwd=tmp_path).out
        )
        if item["type"] == "finding"
    ]
    assert {f["code"] for f in from_file} == {"NN101", "NN103"}
    assert [(f["code"], f["cell"], f["line"], f["column"]) for f in from_stdin] == [
        (f["code"], f["cell"], f["line"], f["column"]) for f in from_file
    ]
    assert all(f["cell"] == 2 for f in from_stdin)


def test_stdin_notebook_fix_writes_the_fixed_notebook_and_bad_json_is_one_error(cli, tmp_path):
    result = cli("--isolated", "--select", "NN101", "--fix", "--stdin-filename", "nb.ipynb", "-", stdin=notebook_json(STDIN_CELLS), cwd=tmp_path)
    assert result.code == 0, result.err
    fixed = json.loads(result.out)
    assert fixed["cells"][1]["source"][2] == "        super().__init__()\n"

    broken = cli("--isolated", "--fix", "--stdin-filename", "nb.ipynb", "-", stdin="{not json", cwd=tmp_path)
    assert broken.code == 2  # a file that could not be linted
    assert broken.out == "{not json"  # the buffer comes back unchanged
    assert "nb.ipynb" in broken.err and "not a valid notebook" in broken.err
