"""`pytest --nnlint`: the static linter as one test item per collected .py file."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.plugin.conftest import run


@dataclass
class Finding:
    code: str
    name: str
    message: str
    line: int
    column: int


@dataclass
class FileResult:
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


@pytest.fixture
def fake_linter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An `nnlint.api` that flags files containing `BUG` and cannot read files containing `BROKEN`;
    it records the files it was asked about."""
    calls: list[str] = []

    def check_file(path: str | Path) -> FileResult:
        calls.append(Path(path).name)
        text = Path(path).read_text()
        if "BROKEN" in text:
            return FileResult(error="syntax error at line 1")
        if "BUG" in text:
            return FileResult([Finding("NN104", "module-in-python-container", "layers held in a list", 3, 9)])
        return FileResult()

    module = types.ModuleType("nnlint.api")
    module.check_file = check_file  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nnlint.api", module)
    return calls


def test_one_lint_item_per_python_file(pytester: pytest.Pytester, fake_linter: list[str]) -> None:
    pytester.makepyfile(
        test_clean="def test_ok():\n    pass\n",
        models="# BUG\nimport torch\n",
        broken="# BROKEN\n",
    )
    result = run(pytester, "--nnlint", "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*broken.py::nnlint FAILED*",
            "*models.py::nnlint FAILED*",
            "*test_clean.py::nnlint PASSED*",
            "*test_clean.py::test_ok PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["nnlint found 1 problem:", "models.py:3:9: NN104 [module-in-python-container] layers held in a list"]
    )
    result.stdout.fnmatch_lines(["nnlint could not lint broken.py: syntax error at line 1"])
    assert "Traceback" not in result.stdout.str()


def test_files_that_passed_are_skipped_until_they_change(pytester: pytest.Pytester, fake_linter: list[str]) -> None:
    source = pytester.makepyfile(clean="x = 1\n")
    run(pytester, "--nnlint").assert_outcomes(passed=1)
    second = run(pytester, "--nnlint", "-rs")
    second.assert_outcomes(skipped=1)
    second.stdout.fnmatch_lines(["*unchanged since it last passed nnlint*"])
    source.write_text("x = 2\n")
    run(pytester, "--nnlint").assert_outcomes(passed=1)
    pytester.makepyprojecttoml("[tool.nnlint]\nselect = ['NN1']\n")  # settings changed: lint again
    run(pytester, "--nnlint").assert_outcomes(passed=1)
    assert fake_linter == ["clean.py", "clean.py", "clean.py"]


def test_failing_files_are_linted_again(pytester: pytest.Pytester, fake_linter: list[str]) -> None:
    pytester.makepyfile(models="# BUG\n")
    run(pytester, "--nnlint").assert_outcomes(failed=1)
    run(pytester, "--nnlint").assert_outcomes(failed=1)
    assert fake_linter == ["models.py", "models.py"]


def test_lint_items_only_with_the_option_and_selectable_by_marker(pytester: pytest.Pytester, fake_linter: list[str]) -> None:
    pytester.makepyfile(test_clean="def test_ok():\n    pass\n")
    run(pytester).assert_outcomes(passed=1)
    assert fake_linter == []
    run(pytester, "--nnlint", "-m", "nnlint", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert fake_linter == ["test_clean.py"]


def test_a_missing_linter_is_a_clear_failure(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nnlint.api", None)  # import fails
    pytester.makepyfile(clean="x = 1\n")
    result = run(pytester, "--nnlint", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["--nnlint needs the nnlint linter (nnlint.api):*"])


def linter_importable() -> bool:
    try:
        import nnlint.api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not linter_importable(), reason="nnlint.api is not importable (not written yet, or libcst missing)")
def test_the_real_linter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        models="""
import torch
from torch import nn

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.offset = torch.zeros(3)

    def forward(self, x):
        return x + self.offset
""",
        clean="x = 1\n",
    )
    result = run(pytester, "--nnlint", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["models.py:*: NN103 [[]tensor-attribute-not-registered[]]*"])
