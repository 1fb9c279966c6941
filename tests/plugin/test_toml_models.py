"""Models without code (issue 14): factory arguments, declarative and inferred inputs, allowances
and discovery in pyproject.toml; markers that select lint items and model checks separately;
one message per failure."""

from __future__ import annotations

import pytest

from pytest_nnlint import SpecError, load_model_specs
from pytest_nnlint.config import read_pyproject, runtime_table
from tests.plugin.conftest import run

MODELS_PY = """
import torch
from torch import nn


class Classifier(nn.Module):
    def __init__(self, width, classes=2, scale=None):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.head = nn.Linear(width, classes)
        self.scale = scale or {"value": 1.0}

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3))) * self.scale["value"]


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask=None, *, boxes=None):
        hidden = self.embed(input_ids)
        if attention_mask is not None:
            hidden = hidden * attention_mask.unsqueeze(-1)
        out = self.head(hidden)
        return out if boxes is None else out + boxes[0]["shift"].sum()


class Needs(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 6)
        self.offset = torch.zeros(6)

    def forward(self, x):
        return self.linear(x) + self.offset


def config(width):
    return {"value": float(width) / 8}
"""


def project(pytester: pytest.Pytester, models: str) -> None:
    pytester.makepyfile(mymodels=MODELS_PY)
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\npythonpath = ["."]\n' + models)


def test_factory_arguments_and_declared_inputs(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        """
[tool.nnlint.models.classifier]
factory = "mymodels:Classifier"
args = [8]
kwargs = {classes = 4, scale = {call = "mymodels:config", args = [4]}}
inputs = [{shape = [2, 3, 16, 16]}]

[tool.nnlint.models.tagger]
factory = "mymodels:Tagger"
inputs = {input_ids = {shape = [2, 7], dtype = "int64", high = 100}, attention_mask = {shape = [2, 7], dtype = "int64", low = 1, high = 2}, boxes = [{shift = {data = [1.0, 2.0]}}]}
""",
    )
    (classifier, tagger) = load_model_specs(pytester.path / "pyproject.toml")
    assert repr(classifier.factory) == "mymodels:Classifier(8, classes=4, scale=mymodels:config(4))"
    assert tagger.inputs.describe() == "input_ids=[2, 7] int64 in [0, 100), attention_mask=[2, 7] int64 in [1, 2), boxes=[{shift: data float32}]"
    result = run(pytester, "--nnlint-devices=cpu")
    result.assert_outcomes(passed=12)


def test_inferred_inputs_are_noted_once_per_model(pytester: pytest.Pytester) -> None:
    project(pytester, '[tool.nnlint.models.classifier]\nfactory = "mymodels:Classifier"\nargs = [8]\n')
    result = run(pytester, "--nnlint-devices=cpu")
    result.assert_outcomes(passed=6)
    lines = [line for line in result.stdout.lines if "inputs inferred" in line]
    assert lines == ["classifier: inputs inferred from conv (Conv2d): [2, 3, 224, 224] float32 (checked on the meta device)"]


def test_allow_in_toml_is_shown_with_its_reason(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        """
[tool.nnlint.models.plain]
factory = "mymodels:Plain"
checks = ["registration", "state-dict-roundtrip"]
allow = {registration = [{pattern = "offset", reason = "a zero constant"}]}
""",
    )
    result = run(pytester, "--nnlint-devices=cpu")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["plain: allowed by allow.registration 'offset': a zero constant: 1 problem(s) at offset*"])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('inputs = [{shape = [2, "x"]}]', "[tool.nnlint.models.m] inputs[0]: shape = [2, 'x'] is invalid: expected a list of non-negative integers"),
        ('inputs = {ids = {shape = [2], dtype = "int64"}}', "[tool.nnlint.models.m] inputs.ids: an int64 tensor needs high = N"),
        ('inputs = [{shape = [2], dtyp = "int64"}]', "[tool.nnlint.models.m] inputs[0]: unknown key 'dtyp' in a tensor table"),
        ("args = 3", "[tool.nnlint.models.m]: args = 3 is invalid: expected a list of positional arguments"),
        ('allow = {registraton = ["a"]}', "[tool.nnlint.models.m]: allow: unknown check 'registraton'"),
        ("allow = {registration = [3]}", "[tool.nnlint.models.m]: allow.registration: 3 is invalid"),
        ('kwargs = {c = {call = "m:f", arg = []}}', "[tool.nnlint.models.m] kwargs.c: unknown key 'arg' next to call"),
    ],
)
def test_toml_mistakes_name_the_file_the_key_and_the_value(tmp_path: pytest.TempPathFactory, table: str, message: str) -> None:
    path = tmp_path / "pyproject.toml"  # type: ignore[operator]
    path.write_text(f'[tool.nnlint.models.m]\nfactory = "m:f"\n{table}\n')
    with pytest.raises(SpecError) as error:
        load_model_specs(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value), str(error.value)


def test_discovery_checks_every_class_that_builds_without_arguments(pytester: pytest.Pytester) -> None:
    project(pytester, '[tool.nnlint.runtime]\ndiscover = ["mymodels"]\ndiscover-exclude = ["*.Plain"]\n')
    result = run(pytester, "--nnlint-devices=cpu", "-q")
    # Tagger builds without arguments (its inputs are inferred); Classifier and Needs need a width.
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "nnlint discovery: 4 nn.Module classes in mymodels: 1 checked (0 with failures); not checked: "
            "2 need constructor arguments (e.g. Classifier), 1 excluded (e.g. Plain)",
            "mymodels.Tagger: inputs inferred from embed (Embedding): [[]2, 16[]] int64*",
        ]
    )
    flag = run(pytester, "--nnlint-devices=cpu", "--nnlint-discover=mymodels", "-q", "--collect-only")
    assert "pyproject.toml::mymodels.Tagger::registration[cpu]" in flag.stdout.lines


def test_discovered_classes_take_allowances_by_class_pattern(pytester: pytest.Pytester) -> None:
    """A discovered class with a deliberate exception (torchvision's AnchorGenerator keeps its
    anchors in a plain list) is exempted in [tool.nnlint.runtime], with its reason shown."""
    project(pytester, '[tool.nnlint.runtime]\ndiscover = ["mymodels"]\n')
    without = run(pytester, "--nnlint-devices=cpu", "-q", "-k", "Plain and registration")
    without.assert_outcomes(failed=1)
    project(
        pytester,
        '[tool.nnlint.runtime]\ndiscover = ["mymodels"]\n'
        '[tool.nnlint.runtime.discover-allow]\n'
        '"mymodels.Pla*" = {registration = [{pattern = "offset", reason = "a zero constant"}]}\n',
    )
    allowed = run(pytester, "--nnlint-devices=cpu", "-q", "-k", "Plain and registration")
    allowed.assert_outcomes(passed=1)
    allowed.stdout.fnmatch_lines(["*mymodels.Plain: allowed by allow.registration 'offset': a zero constant*"])


def test_a_bad_discover_allow_is_a_usage_error(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "pyproject.toml"  # type: ignore[operator]
    path.write_text('[tool.nnlint.runtime]\ndiscover = ["m"]\ndiscover-allow = {"m.C" = {registraton = ["a"]}}\n')
    with pytest.raises(SpecError, match="discover-allow.'m.C': unknown check 'registraton'"):
        runtime_table(read_pyproject(path), path)


def test_markers_select_lint_items_and_model_checks_separately(pytester: pytest.Pytester) -> None:
    project(pytester, '[tool.nnlint.models.plain]\nfactory = "mymodels:Plain"\ninputs = [{shape = [2, 6]}]\nchecks = ["grad-flow"]\n')
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    checks_only = run(pytester, "--nnlint-devices=cpu", "--nnlint", "-m", "nnlint_checks", "--collect-only", "-q")
    assert [line for line in checks_only.stdout.lines if "::" in line] == ["pyproject.toml::plain::grad-flow[cpu]"]
    lint_only = run(pytester, "--nnlint-devices=cpu", "--nnlint", "-m", "nnlint_lint", "--collect-only", "-q")
    assert sorted(line for line in lint_only.stdout.lines if "::" in line) == ["mymodels.py::nnlint", "test_own.py::nnlint"]


def test_a_failing_nn_check_is_reported_once(pytester: pytest.Pytester) -> None:
    project(pytester, "")
    pytester.makepyfile(
        test_mine="""
import pytest
from pytest_nnlint import ModelSpec
import mymodels

@pytest.mark.nnlint_model(ModelSpec("plain", factory=mymodels.Plain, inputs=[{"shape": [2, 6]}]))
def test_registration(nn_check):
    nn_check.registration()
"""
    )
    result = run(pytester, "--nnlint-devices=cpu")
    result.assert_outcomes(failed=1)
    # The short summary repeats the message in full under CI (pytest truncates it only on a
    # terminal), so count in the failure report above it.
    text = result.stdout.str().split("short test summary info")[0]
    assert text.count("offset: tensor (6,) torch.float32 stored as a plain attribute") == 1
    assert "During handling of the above exception" not in text
