"""Loading the plugin costs nothing: no torch import, no change to a run without models."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.plugin.conftest import RUNTIME_FIXTURES, run, run_subprocess

# A plugin given with -p loads before entry points: it makes `import torch` fail, as if torch
# were not installed.
TORCH_BLOCKER = '''
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch' (blocked by the test)")
        return None

sys.meta_path.insert(0, _NoTorch())
'''


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_the_plugin_does_not_import_torch() -> None:
    result = run_python("import pytest_nnlint.plugin, sys; assert 'torch' not in sys.modules, 'torch imported'")
    assert result.returncode == 0, result.stderr


def test_importing_the_public_api_does_not_import_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import pytest_nnlint
        from pytest_nnlint import ModelSpec, CheckFailure, CheckSkipped, SpecError, load_model_specs, CHECK_NAMES
        spec = ModelSpec("m", factory=object, inputs=lambda device: ())
        assert 'torch' not in sys.modules, 'torch imported'
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_the_plugin_is_registered_through_its_entry_point(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*--nnlint-devices=DEVICES*", "*--nnlint-models*"])
    markers = run(pytester, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.nnlint_model(spec):*", "@pytest.mark.nnlint:*"])


def test_a_run_without_models_is_unchanged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    assert 1 + 1 == 2\n")
    pytester.makepyprojecttoml("[tool.nnlint]\nselect = ['NN1']\n")
    result = run(pytester, "--strict-markers", "-rA")
    result.assert_outcomes(passed=1)
    assert "pyproject.toml::" not in result.stdout.str()  # no model items were added


def test_a_run_without_torch_installed(pytester: pytest.Pytester) -> None:
    """No models: nothing happens. Configured models: their items skip, saying torch is missing."""
    pytester.makepyfile(torch_blocker=TORCH_BLOCKER)
    pytester.makepyfile(test_plain="def test_one():\n    import sys\n    assert 'torch' not in sys.modules\n")
    pytester.syspathinsert()
    result = run_subprocess(pytester, "-p", "torch_blocker", "--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)

    pytester.makepyprojecttoml(
        f"""
        [tool.pytest.ini_options]
        pythonpath = [{str(RUNTIME_FIXTURES)!r}]
        [tool.nnlint.models.clean]
        factory = "clean_cnn:build"
        inputs = "clean_cnn:inputs"
        checks = ["registration"]
        """.replace("'", '"')
    )
    result = run_subprocess(pytester, "-p", "torch_blocker", "-rs", "-p", "no:cacheprovider", "--nnlint-devices=cpu")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*model checks need torch*"])
