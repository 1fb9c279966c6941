"""A bug in one rule on one file is contained: reported with the rule and file and a hint, the
other rules and files still run, exit code 2. nnlint never runs or imports the code it lints."""

from __future__ import annotations

import libcst as cst

from nnlint.engine import Engine
from nnlint.project import ClassHierarchy
from nnlint.registry import Registry
from nnlint.rule import Rule
from tests.conftest import run_cli


class Exploding(Rule):
    code = "NN999"
    name = "exploding"
    summary = "a rule with a bug"
    what = why = "test"
    VALID = ("x = 1\n",)
    INVALID = ("f()  # error\n",)

    def visit_Call(self, node: cst.Call) -> None:
        raise ValueError("boom")


def test_internal_error_in_one_rule_is_reported_and_others_still_run():
    registry = Registry()
    rules = [Exploding, registry.load("NN101")]
    source = "import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n        super(X, self).__init__()\n"
    result = Engine(ClassHierarchy(lambda *a: None)).lint(source, "m.py", rules, module="m")
    assert [f.code for f in result.findings] == ["NN101"]
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.kind == "internal"
    assert "NN999" in error.message and "ValueError: boom" in error.message and "report" in error.message


def test_linting_never_executes_the_code(tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super(X, self).__init__()\n"
    )
    (tmp_path / "user.py").write_text("from evil import M\n\nclass N(M):\n    def __init__(self):\n        self.x = 1\n")
    result = run_cli("--select", "ALL", cwd=tmp_path)
    assert result.code == 1
    assert not marker.exists()
