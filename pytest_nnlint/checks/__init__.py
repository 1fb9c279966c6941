"""The checks, as plain functions: `check(spec, device="cpu") -> CheckResult`.

Each raises CheckFailure (an AssertionError) listing every problem, or CheckSkipped when it does
not apply; each builds fresh instances from the spec's factory and restores torch's global state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pytest_nnlint.checks._support import DeviceLike
from pytest_nnlint.checks.device_transfer import device_transfer
from pytest_nnlint.checks.freezing import freezing
from pytest_nnlint.checks.grad_flow import grad_flow
from pytest_nnlint.checks.parity import parity
from pytest_nnlint.checks.registration import registration
from pytest_nnlint.checks.state_dict import state_dict_roundtrip
from pytest_nnlint.checks.train_eval import train_eval
from pytest_nnlint.results import CheckFailure, CheckOutcome, CheckResult, CheckSkipped
from pytest_nnlint.spec import ACCELERATOR_ONLY_CHECKS, CHECK_NAMES, DEFAULT_DEVICES, ModelSpec

CHECKS: dict[str, Callable[..., CheckResult]] = {
    "registration": registration,
    "device-transfer": device_transfer,
    "freezing": freezing,
    "grad-flow": grad_flow,
    "state-dict-roundtrip": state_dict_roundtrip,
    "train-eval": train_eval,
    "parity": parity,
}


def run_check(name: str, spec: ModelSpec, device: DeviceLike = "cpu") -> CheckResult:
    """Run one check by its public name (`device-transfer`, ...)."""
    try:
        check = CHECKS[name]
    except KeyError:
        raise ValueError(f"unknown check {name!r} (expected one of: {', '.join(CHECK_NAMES)})") from None
    return check(spec, device)


def run_all(
    spec: ModelSpec,
    devices: Iterable[DeviceLike] | None = None,
    checks: Iterable[str] | None = None,
) -> list[CheckOutcome]:
    """Every selected check on every device, collecting outcomes instead of raising."""
    names = tuple(checks) if checks is not None else spec.selected_checks
    outcomes = []
    for device in devices if devices is not None else spec.devices_within(DEFAULT_DEVICES):
        for name in names:
            if name in ACCELERATOR_ONLY_CHECKS and str(device) == "cpu":
                continue
            try:
                result = run_check(name, spec, device)
            except CheckFailure as failure:
                outcomes.append(CheckOutcome(name, spec.name, str(device), "failed", str(failure)))
            except CheckSkipped as skipped:
                outcomes.append(CheckOutcome(name, spec.name, str(device), "skipped", skipped.reason))
            else:
                outcomes.append(CheckOutcome(name, spec.name, str(device), "passed", "; ".join(result.notes), result))
    return outcomes


__all__ = [
    "CHECKS",
    "device_transfer",
    "freezing",
    "grad_flow",
    "parity",
    "registration",
    "run_all",
    "run_check",
    "state_dict_roundtrip",
    "train_eval",
]
