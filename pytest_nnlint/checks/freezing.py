"""`freezing`: frozen parameters stay bit-identical through an optimizer step, trainable ones can
move, and frozen parts do not keep updating BatchNorm statistics in train mode.

Frozen parameters are judged strictly. A trainable one fails only when no step can move it: it
gets no gradient at all (in train mode, nor in eval mode where nothing is random), or it has a
non-zero gradient and still does not change. An exactly-zero first-step gradient is what
zero-initialisation schemes produce on purpose; it is a note, not a failure.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from pytest_nnlint.checks._support import (
    Report,
    apply_frozen,
    backward,
    build_on,
    check_function,
    frozen_modules,
    reached_in_eval_mode,
    train_step_loss,
)
from pytest_nnlint.checks.grad_flow import note_unused_by_design, note_zero_gradients
from pytest_nnlint.results import CheckSkipped
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import display_path

# AdamW with weight decay: decay would move a frozen parameter that wrongly got a gradient
# (even a zero one), and Adam's normalised step moves any trainable one by about `lr`.
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2


@check_function("freezing")
def freezing(spec: ModelSpec, device: torch.device, report: Report) -> None:
    model = build_on(spec, device)
    _report_requires_grad_attributes(model, report)
    frozen = apply_frozen(spec, model)
    parameters = dict(model.named_parameters())
    if not parameters:
        raise CheckSkipped("the model has no parameters: there is nothing to freeze or train")
    model.train()
    frozen_parts = frozen_modules(spec, model, frozen)
    before = {name: p.detach().clone() for name, p in parameters.items()}
    buffers_before = {
        (path, name): b.detach().clone()
        for path, module in frozen_parts.items()
        for name, b in module.named_buffers(recurse=False)
    }

    for parameter in parameters.values():
        parameter.grad = None
    loss = train_step_loss(spec, model, device)
    if loss.requires_grad:
        backward(loss, f"on {device}")
    for name in sorted(frozen):
        if parameters[name].grad is not None:
            report.fail(name, "is frozen (requires_grad=False) but received a gradient")
    first_adamw_step(parameters.values())

    unchanged = []
    for name, parameter in parameters.items():
        changed = not torch.equal(parameter.detach(), before[name])
        if name in frozen and changed:
            report.fail(name, "is frozen but changed during one optimizer step (something writes to it in place)")
        elif name not in frozen and not changed and parameter.numel():
            unchanged.append(name)
    without_gradient = {name for name in unchanged if parameters[name].grad is None}
    zero = [name for name in unchanged if parameters[name].grad is not None and not bool(parameters[name].grad.any())]
    # Only the parameters without a gradient need the eval-mode pass (after the step: it resets
    # the gradients, which are no longer needed).
    buffers_after = {key: frozen_parts[key[0]].get_buffer(key[1]).detach().clone() for key in buffers_before}
    reached = reached_in_eval_mode(spec, model, device, without_gradient) if without_gradient else set()
    by_design = note_unused_by_design(spec, model, device, without_gradient - reached, report)
    for name in unchanged:
        if name in by_design:
            continue
        if name in without_gradient and name not in reached:
            report.fail(name, "is trainable but did not change after one AdamW step (it received no gradient, in train or eval mode)")
        elif name not in without_gradient and name not in zero and _step_was_representable(before[name], parameters[name]):
            report.fail(
                name,
                "is trainable and has a non-zero gradient but did not change after one AdamW step "
                "(something restores it, or it is not the tensor the optimizer updates)",
            )
    if reached:
        report.note(
            f"{len(reached)} parameter(s) got no gradient from the train-mode pass but do in eval mode "
            f"(randomness such as stochastic depth), e.g. {sorted(reached)[0]}"
        )
    note_zero_gradients(report, zero)

    stale: dict[str, list[str]] = {}
    for (path, name), value in buffers_before.items():
        current = buffers_after[(path, name)]
        if current.is_floating_point() and not torch.equal(current, value):
            stale.setdefault(path, []).append(name)
    for path, names in stale.items():
        report.fail(
            display_path(path),
            f"is frozen but its running statistics ({', '.join(names)}) changed in a train-mode step: "
            "requires_grad=False does not stop BatchNorm statistics; keep frozen norm layers in eval() "
            "(override train() to call super().train(mode), then .eval() them)",
        )


def first_adamw_step(parameters: Iterable[nn.Parameter], eps: float = 1e-8) -> None:
    """The first step of `torch.optim.AdamW(lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)`,
    computed directly: on step 1 the bias-corrected moments are g and g*g, so the update is
    lr * g / (|g| + eps), after the decoupled decay p *= 1 - lr * wd (parameters without a
    gradient are left alone, as AdamW leaves them). Same result without the optimizer's two
    zero-filled state tensors per parameter, which cost more than a training step on large models."""
    with torch.no_grad():
        for parameter in parameters:
            grad = parameter.grad
            if grad is None:
                continue
            parameter.mul_(1 - LEARNING_RATE * WEIGHT_DECAY)
            parameter.addcdiv_(grad, grad.abs().add_(eps), value=-LEARNING_RATE)


def _report_requires_grad_attributes(model: nn.Module, report: Report) -> None:
    """`module.requires_grad = False` sets a plain attribute; nothing is frozen (NN110)."""
    for path, module in model.named_modules():
        if "requires_grad" not in vars(module):
            continue
        value = vars(module)["requires_grad"]
        still_training = sum(1 for p in module.parameters() if p.requires_grad)
        name = display_path(path)
        report.fail(
            name,
            f"`{name}.requires_grad = {value!r}` sets a plain attribute on a {type(module).__name__} "
            f"and freezes nothing ({still_training} of its parameter tensors still require grad); "
            f"use {name}.requires_grad_({value!r})",
            "NN110",
        )


def _step_was_representable(before: torch.Tensor, parameter: torch.Tensor) -> bool:
    """Whether a step of about the learning rate changes at least one element whose gradient is
    non-zero (a value so large that lr is below its float resolution cannot move)."""
    if not before.is_floating_point() or parameter.grad is None:
        return False
    moving = parameter.grad.detach() != 0
    if not bool(moving.any()):
        return False
    smallest = float(before.abs()[moving].min())
    return smallest * torch.finfo(before.dtype).eps < LEARNING_RATE
