"""`grad-flow`: every trainable parameter takes part in the loss and gets a finite gradient.

What is judged is whether a gradient *reaches* a parameter, not its value: a zero-initialised
layer (a residual branch's last norm, a classifier head) legitimately blocks the first step's
gradient upstream, and stochastic depth can drop a block for a whole batch. A parameter without
any gradient in the train-mode pass is tried once more in eval mode, where nothing is random.
"""

from __future__ import annotations

import torch

from pytest_nnlint.checks._support import (
    Report,
    apply_frozen,
    backward,
    build_on,
    check_function,
    fatal,
    reached_in_eval_mode,
    train_step_loss,
)
from pytest_nnlint.checks._unused import CONDITIONAL, unused_by_design
from pytest_nnlint.results import CheckSkipped
from pytest_nnlint.spec import ModelSpec

# A note lists this many names of parameters with an exactly-zero gradient.
LISTED = 3


@check_function("grad-flow")
def grad_flow(spec: ModelSpec, device: torch.device, report: Report) -> None:
    model = build_on(spec, device)
    frozen = apply_frozen(spec, model)
    trainable = {name: p for name, p in model.named_parameters() if name not in frozen}
    if not trainable:
        raise CheckSkipped(
            "the model has no trainable parameters" if frozen else "the model has no parameters"
        )
    loss = train_step_loss(spec, model, device)
    if not bool(torch.isfinite(loss.detach())):
        raise fatal(f"the loss is {loss.item()} (not finite) after one forward pass in train mode")
    if not loss.requires_grad:
        raise fatal("the loss does not depend on any trainable parameter (is the forward pass detached?)")
    backward(loss, f"on {device}")
    missing = {name for name, p in trainable.items() if p.grad is None}
    zero = [name for name, p in trainable.items() if p.grad is not None and not bool(p.grad.any())]
    for name, parameter in trainable.items():
        if parameter.grad is not None and not bool(torch.isfinite(parameter.grad).all()):
            bad = int((~torch.isfinite(parameter.grad)).sum())
            report.fail(name, f"has a non-finite gradient ({bad} of {parameter.grad.numel()} values are NaN/Inf)")
    reached = reached_in_eval_mode(spec, model, device, missing) if missing else set()
    by_design = note_unused_by_design(spec, model, device, missing - reached, report)
    for name in trainable:
        if name in missing and name not in reached and name not in by_design:
            report.fail(
                name,
                "received no gradient in train or eval mode: it takes no part in the loss (an unused "
                "parameter makes DistributedDataParallel fail unless find_unused_parameters=True)",
            )
    if reached:
        report.note(
            f"{len(reached)} parameter(s) got no gradient from the train-mode pass but do in eval mode "
            f"(randomness such as stochastic depth, or a train-only branch), e.g. {sorted(reached)[0]}"
        )
    note_zero_gradients(report, zero)


def note_unused_by_design(
    spec: ModelSpec, model: torch.nn.Module, device: torch.device, names: set[str], report: Report
) -> set[str]:
    """Parameters without any gradient that these inputs leave out by design (read only on
    another path, or computed into something the output does not include): a note per cause,
    not a failure. Returns their names."""
    found = unused_by_design(spec, model, device, names) if names else {}
    by_cause: dict[tuple[str, str], list[str]] = {}
    for name, cause in found.items():
        by_cause.setdefault(cause, []).append(name)
    ddp = "training that never takes that path under DistributedDataParallel needs find_unused_parameters=True"
    for (kind, owner), group in by_cause.items():
        listed = _listed(group)
        them = "it" if len(group) == 1 else "them"
        if kind == CONDITIONAL:
            report.note(
                f"{listed}: no gradient from these inputs; {owner}.forward reads {them} only on a path they do "
                f"not take (an optional argument, a setting, or routing that depends on the data); {ddp}"
            )
        else:
            report.note(
                f"{listed}: no gradient from these inputs; forward computes with {them} but the result does not "
                f"reach the output (e.g. an auxiliary head that only feeds the loss given labels=); if that is "
                f"not by design, the result is lost; {ddp}"
            )
    return set(found)


def _listed(names: list[str]) -> str:
    return ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def note_zero_gradients(report: Report, zero: list[str]) -> None:
    if zero:
        examples = ", ".join(zero[:LISTED]) + (", ..." if len(zero) > LISTED else "")
        report.note(
            f"{len(zero)} parameter(s) got an exactly-zero gradient from this batch ({examples}): they "
            "take part in the loss, so training can move them (typical of zero-initialised layers "
            "downstream or of stochastic depth)"
        )
