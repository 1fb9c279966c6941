"""`device-transfer`: `.to()` / `.cuda()` / `.cpu()` move every tensor the model holds, return the
module, and a forward pass on the device keeps every output there.

On a CPU device the transfer target is the `meta` device, so CPU-only CI still catches a tensor
that does not follow the module.
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_nnlint.checks._support import (
    Report,
    build_model,
    check_function,
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
    """cpu -> meta (placement, forward where meta supports it) and .cpu() + forward on a CPU
    device; cpu -> device -> cpu -> device with .to()/.cpu()/.cuda() on an accelerator."""
    if device.type == "cpu":
        _to_meta(spec, report)
        model = build_model(spec)
        _transfer(model, "cpu", CPU, report)
        _forward_on(spec, model, CPU, report)
        return
    model = build_model(spec)
    _transfer(model, "to", device, report)
    _transfer(model, "cpu", CPU, report)
    if device.type == "cuda":
        _transfer(model, "cuda", device, report, index=device.index)
    else:
        _transfer(model, "to", device, report)
    _forward_on(spec, model, device, report)


def _to_meta(spec: ModelSpec, report: Report) -> None:
    model = build_model(spec)
    try:
        move(model, "to", META)
    except CheckFailure as failure:
        report.note(f"skipped the transfer to the meta device: {failure.problems[0].message}")
        return
    _check_placement(model, META, ".to(meta)", report)
    if report.problems:
        return  # the forward would only fail on the tensors already reported
    try:
        arguments = make_inputs(spec, META)
        output = model(*arguments)
    except Exception as exc:  # many ops have no meta kernel: placement was still checked
        reason = exc.problems[0].message if isinstance(exc, CheckFailure) else describe_exception(exc)
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


def _registered_names(model: nn.Module) -> dict[int, str]:
    names = {id(t): name for name, t in model.named_parameters()}
    names.update({id(t): name for name, t in model.named_buffers()})
    return names


def _check_placement(
    model: nn.Module, device: torch.device, call: str, report: Report, before: dict[int, str] | None = None
) -> None:
    for item in walk(model):
        if not item.is_tensor or on_device(item.value, device):
            continue
        where = f"is on {item.value.device} after model{call}"
        if item.registered:
            report.fail(item.path, f"registered {item.kind} {where} (does the module override _apply() or to()?)")
        elif before is not None and id(item.value) in before:
            report.fail(
                item.path,
                f"is a stale reference to {before[id(item.value)]!r}, {where}: .to() replaces buffers, "
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
