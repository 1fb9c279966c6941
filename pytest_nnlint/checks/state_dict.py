"""`state-dict-roundtrip`: the state_dict carries everything the outputs depend on, survives
`torch.save` / `torch.load(weights_only=True)`, and - demonstrated on the user's own model - a
plain `state_dict()` aliases live tensors while `copy.deepcopy` of it is a real snapshot."""

from __future__ import annotations

import copy
import io
import re
from typing import Any

import torch
from torch import nn

from pytest_nnlint.checks._support import (
    Report,
    apply_frozen,
    backward,
    build_on,
    check_function,
    compare_leaves,
    compute_loss,
    describe_exception,
    fatal,
    forward,
    make_inputs,
    seeded,
    tensor_leaves,
)
from pytest_nnlint.results import CheckFailure, CheckSkipped
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import unregistered


@check_function("state-dict-roundtrip")
def state_dict_roundtrip(spec: ModelSpec, device: torch.device, report: Report) -> None:
    original = build_on(spec, device).eval()
    arguments = make_inputs(spec, device)
    # Each pass under the same seed: a model that is (wrongly) random in eval still compares;
    # train-eval reports that randomness.
    with torch.no_grad():
        seeded(spec.seed)
        reference = tensor_leaves(forward(original, arguments, f"on {device} in eval mode"))
        seeded(spec.seed)
        repeat = tensor_leaves(forward(original, arguments, f"on {device} in eval mode"))
    exact = device.type == "cpu"
    comparable = not compare_leaves(reference, repeat, spec=None if exact else spec)
    if not comparable:
        report.note("skipped the output comparisons: eval-mode outputs are not deterministic (see train-eval)")

    state = original.state_dict()
    _load_and_compare(spec, device, state, arguments, reference, comparable, "load_state_dict(strict=True)", report)
    if report.problems:
        return

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    try:
        loaded = torch.load(buffer, weights_only=True)
    except Exception as exc:
        raise fatal(
            f"the state_dict cannot be read back with torch.load(weights_only=True): {_unpickling_reason(exc)} "
            "(it holds objects other than tensors and plain containers, e.g. from get_extra_state())"
        ) from exc
    _load_and_compare(
        spec, device, loaded, arguments, reference, comparable, "torch.save + torch.load(weights_only=True)", report
    )
    if report.problems:
        return
    _snapshot_lesson(spec, device, original, arguments, report)


def _unpickling_reason(exc: Exception) -> str:
    """torch's message is a page of advice; keep the line that names the offending global."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    for line in text.splitlines():
        if "Unsupported global" in line or "WeightsUnpickler error" in line:
            return line.strip().split(". ")[0]
    return describe_exception(exc)


def _load_and_compare(
    spec: ModelSpec,
    device: torch.device,
    state: dict[str, Any],
    arguments: tuple[Any, ...],
    reference: list[tuple[str, torch.Tensor]],
    comparable: bool,
    how: str,
    report: Report,
) -> None:
    fresh = build_on(spec, device, seed=spec.seed + 1).eval()
    try:
        fresh.load_state_dict(state, strict=True)
    except Exception as exc:
        raise fatal(f"{how} into a fresh instance failed: {describe_exception(exc)}") from exc
    if not comparable:
        return
    with torch.no_grad():
        seeded(spec.seed)
        outputs = tensor_leaves(forward(fresh, arguments, f"on {device} after {how}"))
    differences = compare_leaves(reference, outputs, spec=None if device.type == "cpu" else spec)
    if not differences:
        return
    for path, difference in differences:
        report.fail(
            path,
            f"differs after {how} into a fresh instance built under another seed ({difference}): "
            "part of the state the output depends on is not in the state_dict",
        )
    for path, reason, rule in _state_outside_state_dict(fresh):
        report.fail(path, reason, rule)


def _state_outside_state_dict(model: nn.Module) -> list[tuple[str, str, str | None]]:
    """Suspects for a failed round trip: unregistered tensors/modules and non-persistent buffers."""
    suspects: list[tuple[str, str, str | None]] = []
    for item in unregistered(model):
        what = type(item.value).__name__ if item.is_module else "tensor"
        suspects.append((item.path, f"suspect: this {what} is not registered, so it is not in the state_dict", item.rule))
    for path, module in model.named_modules():
        for name in sorted(module._non_persistent_buffers_set):
            full = f"{path}.{name}" if path else name
            suspects.append((full, "suspect: non-persistent buffer (persistent=False), not in the state_dict", None))
    return suspects


def _snapshot_lesson(
    spec: ModelSpec, device: torch.device, model: nn.Module, arguments: tuple[Any, ...], report: Report
) -> None:
    """Train one step: the deepcopy must stay put, while the plain state_dict follows the model."""
    alias = model.state_dict()
    snapshot = copy.deepcopy(alias)
    before = {key: value.detach().clone() for key, value in alias.items() if isinstance(value, torch.Tensor)}
    frozen = apply_frozen(spec, model)
    trainable = [p for name, p in model.named_parameters() if name not in frozen]
    if not trainable:
        report.note("skipped the state_dict snapshot demonstration: no trainable parameters")
        return
    model.train()
    try:
        loss = compute_loss(spec, forward(model, arguments, f"on {device} in train mode"))
    except (CheckSkipped, CheckFailure) as reason:
        text = reason.reason if isinstance(reason, CheckSkipped) else reason.problems[0].message
        report.note(f"skipped the state_dict snapshot demonstration: {text}")
        return
    if not loss.requires_grad:
        report.note("skipped the state_dict snapshot demonstration: the loss does not depend on the parameters")
        return
    backward(loss, f"on {device}")
    torch.optim.SGD(trainable, lr=0.1).step()

    moved = [key for key, value in before.items() if not torch.equal(alias[key], value)]
    for key, value in before.items():
        if not torch.equal(snapshot[key], value):
            report.fail(key, "copy.deepcopy(model.state_dict()) changed when the model trained: it is not a snapshot")
    if moved:
        report.detail(
            f"model.state_dict() aliases the live tensors: after one training step {len(moved)} of "
            f"{len(before)} entries (e.g. {moved[0]!r}) changed with the model, while "
            "copy.deepcopy(model.state_dict()) kept the old values - keep 'best model' snapshots with "
            "copy.deepcopy (NN301 state-dict-snapshot-alias)"
        )
