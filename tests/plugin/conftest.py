"""Shared helpers for the pytest_nnlint tests.

pytester is registered from here rather than with `pytest_plugins = ["pytester"]`: pytest refuses
`pytest_plugins` in a conftest that is not top-level (tests/plugin/ is not loaded at startup when
the whole suite runs), while a late-registered plugin is fine.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME_FIXTURES = REPO / "fixtures" / "runtime"
FIXTURE_NAMES = sorted(path.stem for path in RUNTIME_FIXTURES.glob("*.py"))


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # the torch-free tests (spec, import hygiene) still run
        return False
    return torch.cuda.is_available()


needs_cuda = pytest.mark.skipif(not cuda_available(), reason="needs CUDA (torch.cuda.is_available() is False)")

# The devices these tests exercise: CPU always, CUDA where present (skipped with a reason otherwise).
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=needs_cuda)]


def load_fixture(name: str) -> ModuleType:
    """A runtime fixture module, loaded under a private name (nothing added to sys.path)."""
    spec = importlib.util.spec_from_file_location(f"_nnlint_runtime_fixture_{name}", RUNTIME_FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so that pickling (torch.save) can find its classes
    spec.loader.exec_module(module)
    return module


def expected_failures(module: ModuleType, device: str) -> dict[str, list[str]]:
    expected = dict(module.EXPECTED_FAILURES)
    if device.startswith("cuda"):
        expected.update(getattr(module, "EXPECTED_CUDA_FAILURES", {}))
    return expected


def models_pyproject(names: list[str], checks: list[str] | None = None) -> str:
    """A pyproject.toml that configures runtime fixtures as [tool.nnlint.models]."""
    lines = ["[tool.pytest.ini_options]", f"pythonpath = [{str(RUNTIME_FIXTURES)!r}]", ""]
    for name in names:
        module = load_fixture(name)
        lines += [f"[tool.nnlint.models.{name}]", f'factory = "{name}:build"', f'inputs = "{name}:inputs"']
        if getattr(module, "FROZEN", ()):
            lines.append(f"frozen = {list(module.FROZEN)!r}")
        if checks is not None:
            lines.append(f"checks = {checks!r}")
        lines.append("")
    return "\n".join(lines).replace("'", '"') + "\n"


# hypothesis' pytest plugin imports all of hypothesis at the end of every in-process run (pytester
# restores sys.modules in between): about 2 s per run that tests of this plugin do not need.
QUIET = ("-p", "no:hypothesispytest")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An in-process pytest run of the pytester project."""
    return pytester.runpytest(*QUIET, *args)


def run_subprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*QUIET, *args)


@pytest.fixture(scope="session", autouse=True)
def torch_imported_in_full() -> None:
    """Run every check once before any in-process pytester run.

    pytester restores sys.modules after each run, dropping the torch submodules that the run
    imported lazily; importing some of them a second time fails (they register operator
    libraries). Importing them here, before the first snapshot, keeps them loaded.
    """
    if importlib.util.find_spec("torch") is None:
        return
    from pytest_nnlint import ModelSpec, run_all

    module = load_fixture("clean_cnn")
    devices = ["cpu", "cuda"] if cuda_available() else ["cpu"]
    run_all(ModelSpec("warm-up", factory=module.build, inputs=module.inputs), devices=devices)
