"""Checks leave the user's model and torch's global state exactly as they found them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from pytest_nnlint import CHECK_NAMES, ModelSpec, checks, preserved_torch_state
from pytest_nnlint.state import TorchGlobalState
from tests.plugin.conftest import DEVICES, load_fixture

CLEAN = load_fixture("clean_frozen_backbone")
SPEC = ModelSpec("clean", factory=CLEAN.build, inputs=CLEAN.inputs, frozen=CLEAN.FROZEN)


def legacy_tf32_api() -> None:
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = True


def new_tf32_api() -> None:
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"


@pytest.fixture(params=[legacy_tf32_api, new_tf32_api], ids=["legacy-tf32-api", "new-tf32-api"])
def unusual_global_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every global setting a check touches, set away from its default (and put back after)."""
    with preserved_torch_state():
        torch.manual_seed(1234)
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_anomaly_enabled(True, False)
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = True
        request.param()
        yield


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("check", CHECK_NAMES)
def test_global_state_is_unchanged_by_every_check(check: str, device: str, unusual_global_state: None) -> None:
    if check == "parity" and device == "cpu":
        pytest.skip("parity does not run on cpu")
    before = TorchGlobalState.capture()
    expected_next_draw = torch.rand(3)
    torch.set_rng_state(before.cpu_rng)
    checks.run_check(check, SPEC, device)
    assert before.differences(TorchGlobalState.capture()) == []
    assert torch.get_default_dtype() == torch.float64 and not torch.is_grad_enabled()
    assert torch.equal(torch.rand(3), expected_next_draw)  # the RNG stream continues where it was


@pytest.mark.parametrize("check", [name for name in CHECK_NAMES if name != "parity"])
def test_global_state_is_unchanged_when_a_check_fails(check: str, unusual_global_state: None) -> None:
    module = load_fixture("nn104_module_list")
    before = TorchGlobalState.capture()
    try:
        checks.run_check(check, ModelSpec("listy", factory=module.build, inputs=module.inputs))
    except AssertionError:
        pass
    assert before.differences(TorchGlobalState.capture()) == []


class InterruptedModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> Any:
        torch.set_default_dtype(torch.float16)  # mid-check changes, then Ctrl-C
        torch.set_grad_enabled(False)
        raise KeyboardInterrupt


def test_state_is_restored_when_the_check_is_interrupted(unusual_global_state: None) -> None:
    before = TorchGlobalState.capture()
    spec = ModelSpec("interrupted", factory=InterruptedModel, inputs=lambda device: torch.randn(1, 2, device=device))
    with pytest.raises(KeyboardInterrupt):
        checks.grad_flow(spec)
    assert before.differences(TorchGlobalState.capture()) == []


def test_the_guard_restores_everything_it_captures() -> None:
    before = TorchGlobalState.capture()
    with preserved_torch_state():
        torch.manual_seed(99)
        torch.rand(5)
        torch.set_grad_enabled(not before.settings["grad_enabled"])
        torch.set_default_dtype(torch.float64)
        torch.set_default_device("meta")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = not before.settings["cudnn_benchmark"]
        assert set(before.differences(TorchGlobalState.capture())) >= {
            "cpu_rng", "grad_enabled", "default_dtype", "default_device", "deterministic", "cudnn_benchmark",
        }
    assert before.differences(TorchGlobalState.capture()) == []
    assert torch.empty(1).device.type == "cpu"


def snapshot(model: nn.Module) -> dict[str, Any]:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "grads": {n: p.grad for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
        "devices": {n: p.device for n, p in model.named_parameters()},
        "ids": {n: id(p) for n, p in model.named_parameters()},
    }


@pytest.mark.parametrize("device", DEVICES)
def test_the_users_own_instance_is_never_touched(device: str) -> None:
    users_model = CLEAN.build().eval()
    before = snapshot(users_model)
    for check in CHECK_NAMES:
        if not (check == "parity" and device == "cpu"):
            checks.run_check(check, SPEC, device)
    after = snapshot(users_model)
    assert after["requires_grad"] == before["requires_grad"]
    assert after["grads"] == before["grads"]
    assert after["training"] == before["training"]
    assert after["devices"] == before["devices"]
    assert after["ids"] == before["ids"]
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key
