"""`device-transfer`: `.to()` / `.cuda()` / `.cpu()` move every tensor the model holds, return the
module, and a forward pass on the device keeps every output there.

On a CPU device the transfer target is the `meta` device, so CPU-only CI still catches a tensor
that does not follow the module.
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_nnlint.checks._support import (
    MIXED_DEVICES,
    Report,
    build_model,
    call_inputs,
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
    for how, target in steps:
        _transfer(model, how, target, report, index=device.index)
        if report.problems:
            return  # later transfers would repeat the same tensors
    _forward_on(spec, model, device, report)


def _to_meta(spec: ModelSpec, model: nn.Module, report: Report) -> None:
    before = _registered_names(model)
    try:
        move(model, "to", META)
    except CheckFailure as failure:
        report.note(f"skipped the transfer to the meta device: {failure.problems[0].message}")
        return
    _check_placement(model, META, ".to(meta)", report, before)
    if report.problems:
        return  # the forward would only fail on the tensors already reported
    try:
        arguments = call_inputs(spec, META)
    except CheckFailure as failure:
        report.note(f"skipped the forward pass on the meta device: {failure.problems[0].message}")
        return
    check_input_devices(arguments, META)
    try:
        output = model(*arguments)
    except Exception as exc:
        reason = describe_exception(exc)
        if MIXED_DEVICES.search(reason):
            report.fail(
                "",
                f"the forward pass on the meta device mixed devices: {reason}; a tensor made in forward "
                "without device= stays on the CPU (create it with device=x.device or x.new_*)",
            )
        else:  # many ops have no meta kernel: placement was still checked
            report.note(f"skipped the forward pass on the meta device: {reason}")
        return
    _check_outputs(output, META, report)


def _transfer(model: nn.Module, how: str, device: torch.device, report: Report, index: int | None = None) -> None:
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
    _check_placement(model, device, call, report, before)


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
) -> None:
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
            report.fail(item.path, f"{held} {where}", item.rule)
        if len(report.problems) >= 20:
            report.fail("", "(more tensors not listed)")
            return


def _forward_on(spec: ModelSpec, model: nn.Module, device: torch.device, report: Report) -> None:
    if report.problems:
        return
    output = forward(model, make_inputs(spec, device), f"on {device}")
    _check_outputs(output, device, report)


def _check_outputs(output: object, device: torch.device, report: Report) -> None:
    for path, tensor in tensor_leaves(output):
        if not on_device(tensor, device):
            report.fail(path, f"is on {tensor.device} though the model and its inputs are on {device}")
