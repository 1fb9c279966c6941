"""The pre-filter: a rule whose ``triggers`` occur nowhere in a file is not run there, and a file
that no enabled rule can report on is not parsed at all -- without losing syntax errors."""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.engine import Engine, may_report
from nnlint.project import ClassHierarchy
from nnlint.registry import Registry
from nnlint.rule import Rule
from tests.conftest import lint_snippet


def _rules_with_triggers() -> list[type[Rule]]:
    registry = Registry.with_plugins()
    return [rule for rule in map(registry.load, registry.codes()) if rule.triggers is not None]


@pytest.mark.parametrize("rule", _rules_with_triggers(), ids=lambda rule: rule.code)
def test_every_invalid_example_contains_a_trigger(rule):
    """Not a proof (a rule's code is), but a rule whose own examples would be filtered out has
    wrong triggers."""
    for example in rule.invalid_examples():
        assert may_report(rule, example.code, "example"), f"{rule.code} triggers {rule.triggers} miss:\n{example.code}"


def test_triggers_may_come_from_the_module_name():
    class NeedsTorch(Rule):
        triggers = ("torch",)

    assert not may_report(NeedsTorch, "from . import randn\n", "pkg.ops")
    assert may_report(NeedsTorch, "from . import randn\n", "torch.ops")  # linting torch itself


def _engine() -> Engine:
    return Engine(ClassHierarchy(lambda *args: None))


def test_a_file_no_rule_can_report_on_is_not_parsed(monkeypatch):
    parsed = []
    real_parse = cst.parse_module
    monkeypatch.setattr(cst, "parse_module", lambda source, *a, **k: parsed.append(source) or real_parse(source, *a, **k))
    super_rule = Registry().load("NN101")
    assert super_rule.triggers == ("super",)
    result = _engine().lint("import numpy as np\nx = np.zeros(3)\n", "plain.py", [super_rule], "plain")
    assert result.findings == [] and result.errors == [] and parsed == []
    _engine().lint("class A(B):\n    def __init__(self):\n        super(C, self).__init__()\n", "s.py", [super_rule], "s")
    assert len(parsed) == 1


def test_a_skipped_file_still_reports_its_syntax_error():
    result = _engine().lint("def broken(:\n    pass\n", "broken.py", [Registry().load("NN101")], "broken")
    assert [e.kind for e in result.errors] == ["syntax"]


def test_only_the_rules_that_may_report_run():
    source = "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        self.x = 1\n"
    assert [f.code for f in lint_snippet(source, ["NN101", "NN102"]).findings] == ["NN102"]
