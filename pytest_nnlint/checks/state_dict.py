"""`state-dict-roundtrip`: the state_dict carries everything the outputs depend on, survives
`torch.save` / `torch.load(weights_only=True)` (its structure and any non-plain entries; the
bytes of plain tensors are left out), and - demonstrated on the user's own model - a
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
    build_on,
    check_function,
    compare_leaves,
    describe_exception,
    fatal,
    forward,
    make_inputs,
    seeded,
    tensor_leaves,
)
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import unregistered


@check_function("state-dict-roundtrip")
def state_dict_roundtrip(spec: ModelSpec, device: torch.device, report: Report) -> None:
    original = build_on(spec, device).eval()
    arguments = make_inputs(spec, device)
    reference = _eval_outputs(spec, original, arguments, f"on {device} in eval mode")
    state = original.state_dict()

    # 1. Strict load into a fresh instance built under another seed: same outputs.
    fresh = build_on(spec, device, seed=spec.seed + 1).eval()
    _load(fresh, state, "load_state_dict(strict=True)")
    outputs = _eval_outputs(spec, fresh, arguments, f"on {device} after load_state_dict")
    differences = compare_leaves(reference, outputs, spec=None if device.type == "cpu" else spec)
    for path, difference in differences:
        report.fail(
            path,
            f"differs after load_state_dict(strict=True) into a fresh instance built under another seed "
            f"({difference}): part of the state the output depends on is not in the state_dict",
        )
    if differences:
        for path, reason, rule in _state_outside_state_dict(fresh):
            report.fail(path, reason, rule)
        return

    # 2. Through bytes with the safe loader: every entry comes back the same and loads strictly.
    loaded = _save_and_load(_without_plain_data(state))
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and not (
            isinstance(loaded.get(key), torch.Tensor) and _same_after_save(loaded[key], value)
        ):
            report.fail(key, "differs after torch.save + torch.load(weights_only=True)")
    restored = copy.copy(loaded)  # keeps the loaded `_metadata` (module versions) as it came back
    for key in restored.keys() & state.keys():
        if _is_plain(state[key]):
            restored[key] = state[key]
    _load(fresh, restored, "load_state_dict(torch.load(..., weights_only=True))")
    if report.problems:
        return

    _snapshot_lesson(spec, original, report)


def _eval_outputs(
    spec: ModelSpec, model: nn.Module, arguments: tuple[Any, ...], where: str
) -> list[tuple[str, torch.Tensor]]:
    # Seeded, so that a model that is (wrongly) random in eval still compares; train-eval
    # reports that randomness.
    with torch.no_grad():
        seeded(spec.seed, next((t.device for _, t in tensor_leaves(arguments, "inputs")), None))
        return tensor_leaves(forward(model, arguments, where))


def _load(model: nn.Module, state: Any, how: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise fatal(f"{how} into a fresh instance failed: {describe_exception(exc)}") from exc


def _save_and_load(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    try:
        torch.save(state, buffer)
    except Exception as exc:
        raise fatal(f"torch.save(model.state_dict()) failed: {describe_exception(exc)}") from exc
    buffer.seek(0)
    try:
        return torch.load(buffer, weights_only=True)
    except Exception as exc:
        raise fatal(
            f"the state_dict cannot be read back with torch.load(weights_only=True): {_unpickling_reason(exc)} "
            "(it holds objects other than tensors and plain containers, e.g. from get_extra_state())"
        ) from exc


def _is_plain(value: Any) -> bool:
    """A dense tensor of torch's own class: `torch.save` copies its bytes without reading them."""
    return type(value) is torch.Tensor and value.layout == torch.strided and not value.is_quantized


def _without_plain_data(state: dict[str, Any]) -> dict[str, Any]:
    """The state_dict to serialise, with each plain tensor's bytes left out (a meta tensor of the
    same dtype and shape). What can break a round trip is structure - an entry `torch.load
    (weights_only=True)` refuses, extra state that does not pickle, a tensor subclass - and
    all of that stays; copying 440 MB of BERT weights through a buffer cost 2 s and tested only
    torch's serializer."""
    elided = copy.copy(state)  # a state_dict's `_metadata` (module versions) must travel too
    for key, value in state.items():
        if _is_plain(value):
            elided[key] = value.to("meta")
    return elided


def _same_after_save(loaded: torch.Tensor, original: torch.Tensor) -> bool:
    if _is_plain(original):
        return loaded.device.type == "meta" and loaded.dtype == original.dtype and loaded.shape == original.shape
    return _identical(loaded, original)


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.device == b.device and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape or a.device != b.device:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(torch.eq(a, b).logical_or(a.isnan() & b.isnan()).all())
    return torch.equal(a, b)


def _unpickling_reason(exc: Exception) -> str:
    """torch's message is a page of advice; keep the line that names the offending global."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    for line in text.splitlines():
        if "Unsupported global" in line or "WeightsUnpickler error" in line:
            return line.strip().split(". ")[0]
    return describe_exception(exc)


def _state_outside_state_dict(model: nn.Module) -> list[tuple[str, str, str | None]]:
    """Suspects for a failed round trip: unregistered tensors/modules and non-persistent buffers."""
    suspects: list[tuple[str, str, str | None]] = []
    for item in unregistered(model):
        what = type(item.value).__name__ if item.is_module else "tensor"
        suspects.append((item.path, f"suspect: this {what} is not registered, so it is not in the state_dict", item.rule))
    for path, module in model.named_modules():
        for name in sorted(module._non_persistent_buffers_set):
            full = f"{path}.{name}" if path else name
            suspects.append((
                full,
                "suspect: non-persistent buffer (persistent=False), not in the state_dict: a value the "
                "output depends on and that is not recomputed the same way must be persistent",
                None,
            ))
    return suspects


def _snapshot_lesson(spec: ModelSpec, model: nn.Module, report: Report) -> None:
    """One optimizer step (in place, as every optimizer does): the deepcopy must stay put, while
    the plain state_dict follows the model. A deepcopy can only follow the model if it shares
    memory with it, which is checked directly: no third copy of the weights is needed (on a
    110M-parameter model each full copy costs about a training step)."""
    alias = model.state_dict()  # noqa: NN301 -- the alias is the point: it must follow the step
    snapshot = copy.deepcopy(alias)
    tensors = [key for key, value in alias.items() if isinstance(value, torch.Tensor)]
    for key in tensors:
        copied = snapshot[key]
        if isinstance(copied, torch.Tensor) and copied.numel() and _shares_memory(copied, alias[key]):
            report.fail(key, "copy.deepcopy(model.state_dict()) shares memory with the model: it is not a snapshot")
    frozen = apply_frozen(spec, model)
    trainable = [p for name, p in model.named_parameters() if name not in frozen and p.is_floating_point()]
    if not trainable:
        report.note("skipped the state_dict snapshot demonstration: no trainable parameters")
        return
    for parameter in trainable:
        # A stand-in gradient of ones, broadcast (no memory per parameter); the step is real.
        parameter.grad = torch.ones((), dtype=parameter.dtype, device=parameter.device).expand_as(parameter)
    torch.optim.SGD(trainable, lr=0.1).step()
    for parameter in trainable:
        parameter.grad = None

    moved = [key for key in tensors if not _identical(alias[key], snapshot[key])]
    if moved:
        report.detail(
            f"model.state_dict() aliases the live tensors: after one optimizer step {len(moved)} of "
            f"{len(tensors)} entries (e.g. {moved[0]!r}) changed with the model, while "
            "copy.deepcopy(model.state_dict()) kept the old values - keep 'best model' snapshots with "
            "copy.deepcopy (NN301 state-dict-snapshot-alias)"
        )
