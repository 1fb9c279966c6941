"""pytest_nnlint: runtime checks for PyTorch models, as plain functions and as a pytest plugin.

    from pytest_nnlint import ModelSpec, checks
    spec = ModelSpec("tiny", factory=build, inputs=lambda device: torch.randn(2, 3, device=device))
    checks.device_transfer(spec, "cpu")

Importing this package never imports torch; `checks`, `run_check`, `run_all` and
`preserved_torch_state` load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_nnlint.config import load_model_specs
from pytest_nnlint.inputs import Inputs
from pytest_nnlint.results import CheckFailure, CheckOutcome, CheckResult, CheckSkipped, Problem
from pytest_nnlint.spec import CHECK_NAMES, ModelSpec, SpecError

if TYPE_CHECKING:
    from pytest_nnlint import checks
    from pytest_nnlint.checks import run_all, run_check
    from pytest_nnlint.state import preserved_torch_state

# name -> (module, attribute or None for the module itself); resolved on first access
_LAZY: dict[str, tuple[str, str | None]] = {
    "checks": ("pytest_nnlint.checks", None),
    "run_check": ("pytest_nnlint.checks", "run_check"),
    "run_all": ("pytest_nnlint.checks", "run_all"),
    "preserved_torch_state": ("pytest_nnlint.state", "preserved_torch_state"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pytest_nnlint' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


__all__ = [
    "CHECK_NAMES",
    "CheckFailure",
    "CheckOutcome",
    "CheckResult",
    "CheckSkipped",
    "Inputs",
    "ModelSpec",
    "Problem",
    "SpecError",
    "checks",
    "load_model_specs",
    "preserved_torch_state",
    "run_all",
    "run_check",
]
