"""`device-transfer`: `.to()` / `.cuda()` / `.cpu()` move every tensor the model holds, return the
module, and a forward pass on the device keeps every output there.

On a CPU device the transfer target is the `meta` device, so CPU-only CI still catches a tensor
that does not follow the module. A plain tensor attribute that stays behind but that `forward`
itself re-derives on the input's device (torchvision's anchor generators) is fine: the forward
pass decides, and it is reported as a note. Where the meta device cannot run forward (detection
models), a CPU forward pass with a stand-in of another dtype in the attribute's place decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pytest_nnlint.checks._support import (
    MIXED_DEVICES,
    Report,
    build_model,
    call_inputs,
    call_model,
    check_function,
    check_input_devices,
    describe_exception,
    fatal,
    forward,
    make_inputs,
    move,
    on_device,
    tensor_leaves,
)
from pytest_nnlint.checks._rederived import ON_THE_INPUTS_DEVICE, rederived_on_the_cpu
from pytest_nnlint.results import CheckFailure
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import walk

META = torch.device("meta")

CPU = torch.device("cpu")


@check_function("device-transfer")
def device_transfer(spec: ModelSpec, device: torch.device, report: Report) -> None:
    """On a CPU device: .cpu() + forward, then cpu -> meta (placement, and a forward pass where
    meta kernels exist). On an accelerator: cpu -> device -> cpu -> device through
    .to()/.cpu()/.cuda(), then a forward pass on the device."""
    if device.type == "cpu":
        model = build_model(spec)
        _transfer(model, "cpu", CPU, report)
        _forward_on(spec, model, CPU, report)
        if not report.problems:
            _to_meta(spec, model, report)
        return
    model = build_model(spec)
    steps = [("to", device), ("cpu", CPU), ("cuda" if device.type == "cuda" else "to", device)]
    left_behind: list[Placement] = []
    for how, target in steps:
        left_behind = _transfer(model, how, target, report, index=device.index)
        if report.problems:
            return  # later transfers would repeat the same tensors
    if left_behind:
        try:
            output = forward(model, make_inputs(spec, device), f"on {device}")
        except CheckFailure:
            _report_placements(left_behind, report)
            raise
        _judge_left_behind(model, left_behind, device, report)
        _check_outputs(output, device, report)
        return
    _forward_on(spec, model, device, report)


def _to_meta(spec: ModelSpec, model: nn.Module, report: Report) -> None:
    before = _registered_names(model)
    try:
        move(model, "to", META)
    except CheckFailure as failure:
        report.note(f"skipped the transfer to the meta device: {failure.problems[0].message}")
        return
    left_behind = _check_placement(model, META, ".to(meta)", report, before)
    if report.problems:
        _report_placements(left_behind, report)
        return  # the forward would only fail on the tensors already reported
    try:
        arguments = call_inputs(spec, META)
    except CheckFailure as failure:
        _report_placements(left_behind, report)
        report.note(f"skipped the forward pass on the meta device: {failure.problems[0].message}")
        return
    check_input_devices(arguments, META)
    try:
        output = call_model(model, arguments)
    except Exception as exc:
        reason = describe_exception(exc)
        left_behind = _rebuilt_on_the_cpu(spec, left_behind, report)
        _report_placements(left_behind, report)
        if left_behind and MIXED_DEVICES.search(reason):
            return  # the tensors left behind are the cause, and they are reported
        if MIXED_DEVICES.search(reason):
            report.fail(
                "",
                f"the forward pass on the meta device mixed devices: {reason}; a tensor made in forward "
                "without device= stays on the CPU (create it with device=x.device or x.new_*)",
            )
        else:  # many ops have no meta kernel: placement was still checked
            report.note(f"skipped the forward pass on the meta device: {reason}")
        return
    _judge_left_behind(model, left_behind, META, report)
    _check_outputs(output, META, report)


@dataclass(frozen=True)
class Placement:
    """A plain (unregistered) tensor attribute left on another device by a move: a failure
    unless the next forward pass re-derives it on the input's device."""

    path: str
    message: str
    rule: str | None


def _report_placements(left_behind: list[Placement], report: Report) -> None:
    for item in left_behind:
        report.fail(item.path, item.message, item.rule)


def _judge_left_behind(model: nn.Module, left_behind: list[Placement], device: torch.device, report: Report) -> None:
    """After a forward pass that ran: attributes now on `device` were re-derived by forward."""
    if not left_behind:
        return
    now = {item.path: item.value for item in walk(model) if item.is_tensor}
    for item in left_behind:
        value = now.get(item.path)
        if value is not None and on_device(value, device):
            report.note(f"{item.path}: not registered, but {ON_THE_INPUTS_DEVICE} ({device})")
        else:
            report.fail(item.path, item.message, item.rule)


def _rebuilt_on_the_cpu(spec: ModelSpec, left_behind: list[Placement], report: Report) -> list[Placement]:
    """When the meta device cannot run forward: the attributes a CPU forward pass rebuilds from
    its input, or only uses where they are and moves what it computes from them, are notes;
    the rest stay left behind."""
    if not left_behind:
        return left_behind
    rederived = rederived_on_the_cpu(spec, {item.path for item in left_behind})
    for path, how in sorted(rederived.items()):
        report.note(f"{path}: not registered, but {how}")
    return [item for item in left_behind if item.path not in rederived]


def _transfer(
    model: nn.Module, how: str, device: torch.device, report: Report, index: int | None = None
) -> list[Placement]:
    before = _registered_names(model)
    if how == "cuda":
        try:
            returned = model.cuda(index)
        except Exception as exc:
            raise fatal(f"model.cuda() raised {describe_exception(exc)}") from exc
        if returned is not model:
            raise fatal("model.cuda() did not return the module itself (an override must return self)")
        call = ".cuda()"
    else:
        move(model, how, device)
        call = f".to({device})" if how == "to" else f".{how}()"
    return _check_placement(model, device, call, report, before)


def _registered_names(model: nn.Module) -> dict[int, tuple[str, str]]:
    """id -> (name, "parameter" | "buffer") of everything registered, before a move."""
    names = {id(t): (name, "parameter") for name, t in model.named_parameters()}
    names.update({id(t): (name, "buffer") for name, t in model.named_buffers()})
    return names


def _check_placement(
    model: nn.Module,
    device: torch.device,
    call: str,
    report: Report,
    before: dict[int, tuple[str, str]] | None = None,
) -> list[Placement]:
    """Report tensors not on `device`; return the plain tensor attributes left behind, which the
    caller judges after a forward pass."""
    left_behind: list[Placement] = []
    for item in walk(model):
        if not item.is_tensor or on_device(item.value, device):
            continue
        where = f"is on {item.value.device} after model{call}"
        if item.registered:
            report.fail(item.path, f"registered {item.kind} {where} (does the module override _apply() or to()?)")
        elif before is not None and id(item.value) in before:
            name, kind = before[id(item.value)]
            if kind == "parameter" and device.type == "meta":
                # Only a move to meta replaces Parameter objects; real devices update them in
                # place, so a kept reference to a parameter stays valid there.
                continue
            report.fail(
                item.path,
                f"is a stale reference to {kind} {name!r}, {where}: .to() replaces buffers, "
                "so a reference kept elsewhere stops following the module",
                item.rule,
            )
        elif item.inside is not None:
            report.fail(item.path, f"belongs to {item.inside}, which is not registered; it {where}", item.rule)
        else:
            held = f"held in a plain {item.container}" if item.container else "plain tensor attribute"
            left_behind.append(Placement(item.path, f"{held} {where}", item.rule))
    return left_behind


def _forward_on(spec: ModelSpec, model: nn.Module, device: torch.device, report: Report) -> None:
    if report.problems:
        return
    output = forward(model, make_inputs(spec, device), f"on {device}")
    _check_outputs(output, device, report)


def _check_outputs(output: object, device: torch.device, report: Report) -> None:
    for path, tensor in tensor_leaves(output):
        if not on_device(tensor, device):
            report.fail(path, f"is on {tensor.device} though the model and its inputs are on {device}")
