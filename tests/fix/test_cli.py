"""`--fix`, `--unsafe-fixes`, `--diff` and `--exit-non-zero-on-fix` through the real console
script: exit codes, what is written (and what is not), and that files keep their encoding, line
endings, BOM and permissions."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.conftest import run_cli

FLAGS = ("--isolated", "--select", "NN101,NN103,NN301", "-j", "1")
# NN101 (safe fix), NN103 (unsafe fix), NN301 (safe fix that needs `import copy`).
MODEL = """\
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super(Other, self).__init__()
        self.scale = torch.ones(3)


def fit(model, opt, loader):
    best = model.state_dict()
    for x, y in loader:
        model(x, y).backward()
        opt.step()
    return best
"""
SAFE_FIXED = (
    MODEL.replace("from torch import nn\n", "from torch import nn\nimport copy\n")
    .replace("super(Other, self)", "super()")
    .replace("best = model.state_dict()", "best = copy.deepcopy(model.state_dict())")
)
ALL_FIXED = SAFE_FIXED.replace("self.scale = torch.ones(3)", "self.register_buffer('scale', torch.ones(3), persistent=False)")


def _model(tmp_path: Path, name: str = "model.py", text: str = MODEL) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fix_applies_safe_fixes_and_reports_what_remains(tmp_path):
    path = _model(tmp_path)
    result = run_cli(*FLAGS, "--fix", str(path))
    assert path.read_text() == SAFE_FIXED
    assert result.code == 1  # the NN103 finding remains
    lines = result.out.splitlines()
    assert lines[0].startswith(f"{path}:9:9: NN103 `self.scale`")  # no [*]: --fix would not apply it
    assert "Fixed 2 findings in 1 file (NN101: 1, NN301: 1)" in lines[-1]
    assert "1 hidden fix can be enabled with `--unsafe-fixes`" in lines[-1]


def test_fix_with_unsafe_fixes_leaves_nothing_and_a_second_run_changes_nothing(tmp_path):
    path = _model(tmp_path)
    first = run_cli(*FLAGS, "--fix", "--unsafe-fixes", str(path))
    assert (first.code, path.read_text()) == (0, ALL_FIXED)
    assert "Fixed 3 findings in 1 file" in first.out and "no findings remain" in first.out
    before = path.stat().st_mtime_ns
    second = run_cli(*FLAGS, "--fix", "--unsafe-fixes", str(path))
    assert second.code == 0 and "All checks passed!" in second.out
    assert path.stat().st_mtime_ns == before  # not even rewritten


def test_exit_non_zero_on_fix_reports_any_change(tmp_path):
    path = _model(tmp_path)
    assert run_cli(*FLAGS, "--fix", "--unsafe-fixes", "--exit-non-zero-on-fix", str(path)).code == 1
    assert path.read_text() == ALL_FIXED
    assert run_cli(*FLAGS, "--fix", "--unsafe-fixes", "--exit-non-zero-on-fix", str(path)).code == 0


def test_diff_prints_the_change_and_writes_nothing(tmp_path):
    path = _model(tmp_path)
    result = run_cli(*FLAGS, "--diff", str(path))
    assert path.read_text() == MODEL
    assert result.code == 1
    assert result.out.startswith(f"--- {path}\n+++ {path}\n@@ ")
    assert "-        super(Other, self).__init__()\n+        super().__init__()\n" in result.out
    assert "+import copy\n" in result.out
    assert "register_buffer" not in result.out  # unsafe: not without --unsafe-fixes
    assert "Would fix 2 findings in 1 file (NN101: 1, NN301: 1); 1 hidden fix can be enabled with `--unsafe-fixes`." in result.err
    unsafe = run_cli(*FLAGS, "--diff", "--unsafe-fixes", str(path))
    assert "+        self.register_buffer('scale', torch.ones(3), persistent=False)\n" in unsafe.out


def test_diff_without_changes_exits_zero(tmp_path):
    path = _model(tmp_path, text="x = 1\n")
    result = run_cli(*FLAGS, "--diff", str(path))
    assert (result.code, result.out) == (0, "")
    assert "No fixes to apply" in result.err


def test_the_fixable_marker_follows_the_flags(tmp_path):
    path = _model(tmp_path)
    plain = run_cli(*FLAGS, str(path)).out
    assert f"{path}:7:9: NN101 [*]" in plain and f"{path}:8:9: NN103 `self" in plain
    assert "2 fixable with `--fix` (see [*]); 1 hidden fix can be enabled with `--unsafe-fixes`" in plain
    unsafe = run_cli(*FLAGS, "--unsafe-fixes", str(path)).out
    assert f"{path}:8:9: NN103 [*]" in unsafe
    assert "3 fixable with `--fix --unsafe-fixes` (see [*])" in unsafe and "hidden" not in unsafe
    assert path.read_text() == MODEL  # --unsafe-fixes alone writes nothing


def test_json_output_carries_each_fix(tmp_path):
    path = _model(tmp_path)
    findings = {f["code"]: f for f in run_cli(*FLAGS, "--output-format", "json", str(path)).json()}
    assert findings["NN101"]["fix"] == {
        "applicability": "safe",
        "message": "replace `super(Other, self)` with `super()`",
        "edits": [{"location": {"row": 7, "column": 9}, "end_location": {"row": 7, "column": 27}, "content": "super()"}],
    }
    assert findings["NN103"]["fix"]["applicability"] == "unsafe"
    nn301_edits = findings["NN301"]["fix"]["edits"]
    assert {"location": {"row": 3, "column": 1}, "end_location": {"row": 3, "column": 1}, "content": "import copy\n"} in nn301_edits


def test_fix_on_stdin_writes_the_fixed_source_to_stdout(tmp_path):
    result = run_cli(*FLAGS, "--fix", "--stdin-filename", "model.py", "-", stdin=MODEL, cwd=tmp_path)
    assert result.out == SAFE_FIXED
    assert "model.py:9:9: NN103" in result.err  # the report goes to stderr
    assert result.code == 1
    clean = run_cli(*FLAGS, "--fix", "-", stdin="x = 1\n", cwd=tmp_path)
    assert (clean.code, clean.out) == (0, "x = 1\n")
    # Even a source that cannot be linted comes back unchanged (an editor replaces its buffer).
    undecodable = run_cli(*FLAGS, "--fix", "-", stdin=b"x = 1\0\n", cwd=tmp_path)
    assert (undecodable.code, undecodable.out) == (2, "x = 1\0\n")
    assert "NUL bytes" in undecodable.err


def test_stdin_keeps_bom_and_crlf(tmp_path):
    data = b"\xef\xbb\xbf" + MODEL.replace("\n", "\r\n").encode()
    result = run_cli(*FLAGS, "--fix", "--unsafe-fixes", "-", stdin=data, cwd=tmp_path)
    assert result.code == 0
    assert result.out == "\ufeff" + ALL_FIXED.replace("\n", "\r\n")


def test_files_keep_encoding_bom_line_endings_and_permissions(tmp_path):
    latin1_header = "# -*- coding: latin-1 -*-\n# Modèle d'exemple, écrit à la main\n"
    cases = {
        "crlf.py": (MODEL.replace("\n", "\r\n").encode(), ALL_FIXED.replace("\n", "\r\n").encode()),
        "bom.py": (b"\xef\xbb\xbf" + MODEL.encode(), b"\xef\xbb\xbf" + ALL_FIXED.encode()),
        "latin1.py": ((latin1_header + MODEL).encode("latin-1"), (latin1_header + ALL_FIXED).encode("latin-1")),
        "mode754.py": (MODEL.encode(), ALL_FIXED.encode()),
    }
    for name, (before, _) in cases.items():
        (tmp_path / name).write_bytes(before)
    (tmp_path / "mode754.py").chmod(0o754)
    (tmp_path / "link.py").symlink_to(tmp_path / "mode754.py")
    result = run_cli(*FLAGS, "--fix", "--unsafe-fixes", str(tmp_path))
    assert result.code == 0, result.out + result.err
    for name, (_, after) in cases.items():
        assert (tmp_path / name).read_bytes() == after, name
    assert stat.S_IMODE((tmp_path / "mode754.py").stat().st_mode) == 0o754
    assert (tmp_path / "link.py").is_symlink()  # fixed through the link, which stays a link
    # Nothing else was created (no temporary file left behind).
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*cases, "link.py"])


def test_other_files_are_fixed_when_one_cannot_be_parsed(tmp_path):
    good = _model(tmp_path, "good.py")
    broken = _model(tmp_path, "broken.py", "def f(:\n")
    result = run_cli(*FLAGS, "--fix", "--unsafe-fixes", str(tmp_path))
    assert result.code == 2
    assert good.read_text() == ALL_FIXED and broken.read_text() == "def f(:\n"
    assert f"{broken}:1" in result.out and "syntax error" in result.out


def test_a_notebook_is_fixed_cell_by_cell(tmp_path):
    import json

    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Training"]},
            {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": ["import torch\n", "%matplotlib inline"]},
            {
                "cell_type": "code",
                "execution_count": 2,
                "metadata": {},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["done\n"]}],
                "source": "def fit(model, opt, loader):\n    best = model.state_dict()\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n    return best\n",
            },
        ],
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "train.ipynb"
    path.write_text(json.dumps(notebook, indent=1))
    diff = run_cli(*FLAGS, "--diff", str(path))
    assert f"--- {path}:cell 2\n" in diff.out and "+import copy\n" in diff.out
    assert "+    best = copy.deepcopy(model.state_dict())\n" in diff.out
    result = run_cli(*FLAGS, "--fix", str(path))
    assert result.code == 0, result.out + result.err
    fixed = json.loads(path.read_text())
    assert "".join(fixed["cells"][1]["source"]) == "import torch\nimport copy\n%matplotlib inline"
    assert "copy.deepcopy(model.state_dict())" in "".join(fixed["cells"][2]["source"])
    assert fixed["cells"][2]["outputs"] == notebook["cells"][2]["outputs"]  # outputs untouched
