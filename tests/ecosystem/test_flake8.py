"""nnlint as a flake8 plugin: its findings come out of flake8 with NN codes, and flake8's own
selection and noqa apply to them."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ecosystem.helpers import BUGGY_MODEL, SEED_RULES

pytestmark = pytest.mark.skipif(importlib.util.find_spec("flake8") is None, reason="flake8 is not installed")


def flake8(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flake8", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    rules = ", ".join(f'"{code}"' for code in SEED_RULES.split(","))
    (tmp_path / "pyproject.toml").write_text(f"[tool.nnlint]\nselect = [{rules}]\n")
    (tmp_path / "model.py").write_text(BUGGY_MODEL)
    return tmp_path


def test_the_plugin_is_registered():
    entry_points = importlib.metadata.entry_points(group="flake8.extension")
    assert any(ep.value == "nnlint.flake8_plugin:Flake8Plugin" for ep in entry_points), (
        "the flake8.extension entry point is missing: reinstall nnlint (pip install -e .)"
    )
    assert "nnlint: " in flake8("--version", cwd=Path.cwd()).stdout


def test_flake8_reports_nnlint_findings(project):
    result = flake8("--select", "NN", "model.py", cwd=project)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "model.py:7:9: NN101 `super(CNN, self)` in class `Model` names `CNN`, which is not `Model` or one of "
        "its bases; use `super()` (or `super(Model, self)`)",
        "model.py:8:9: NN103 `self.scale` in `Model.__init__` is a plain tensor (from `torch.ones`): it does not "
        'follow `.to()`/`.cuda()` and is not in `state_dict()`; use `self.register_buffer("scale", ...)`, '
        "or `nn.Parameter(...)` if it should be trained",
    ]


def test_flake8_selection_and_noqa_apply(project):
    # Without --select, flake8 shows plugin codes next to its own.
    default = flake8("model.py", cwd=project).stdout
    assert "NN101" in default and "NN103" in default and "F821 undefined name 'CNN'" in default
    assert "NN103" not in flake8("--select", "NN", "--extend-ignore", "NN103", "model.py", cwd=project).stdout

    model = project / "model.py"
    model.write_text(BUGGY_MODEL.replace("super(CNN, self).__init__()", "super(CNN, self).__init__()  # noqa: NN101"))
    codes = [line.split()[1] for line in flake8("--select", "NN", "model.py", cwd=project).stdout.splitlines()]
    assert codes == ["NN103"]


def test_flake8_leaves_syntax_errors_to_itself(project):
    (project / "model.py").write_text("def f(:\n    pass\n")
    result = flake8("--select", "E999,NN", "model.py", cwd=project)
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["E999"]


def test_a_bad_nnlint_configuration_is_reported_through_flake8(project):
    (project / "pyproject.toml").write_text("[tool.nnlint]\nselect = 'NN101'\n")
    result = flake8("--select", "NN", "model.py", cwd=project)
    (line,) = result.stdout.splitlines()
    assert line.startswith("model.py:1:1: NN001 nnlint cannot run: ")
    assert "select = 'NN101': expected a list of strings" in line
