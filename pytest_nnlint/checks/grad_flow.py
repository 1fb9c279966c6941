"""`grad-flow`: one backward pass gives every trainable parameter a finite gradient."""

from __future__ import annotations

import torch

from pytest_nnlint.checks._support import (
    Report,
    apply_frozen,
    backward,
    build_on,
    check_function,
    compute_loss,
    fatal,
    forward,
    make_inputs,
)
from pytest_nnlint.results import CheckSkipped
from pytest_nnlint.spec import ModelSpec


@check_function("grad-flow")
def grad_flow(spec: ModelSpec, device: torch.device, report: Report) -> None:
    model = build_on(spec, device)
    frozen = apply_frozen(spec, model)
    trainable = {name: p for name, p in model.named_parameters() if name not in frozen}
    if not trainable:
        raise CheckSkipped(
            "the model has no trainable parameters" if frozen else "the model has no parameters"
        )
    model.train()
    loss = compute_loss(spec, forward(model, make_inputs(spec, device), f"on {device}"))
    if not bool(torch.isfinite(loss.detach())):
        raise fatal(f"the loss is {loss.item()} (not finite) after one forward pass in train mode")
    if not loss.requires_grad:
        raise fatal("the loss does not depend on any trainable parameter (is the forward pass detached?)")
    backward(loss, f"on {device}")
    for name, parameter in trainable.items():
        if parameter.grad is None:
            report.fail(
                name,
                "received no gradient: it takes no part in the loss (an unused parameter makes "
                "DistributedDataParallel fail unless find_unused_parameters=True)",
            )
        elif not bool(torch.isfinite(parameter.grad).all()):
            bad = int((~torch.isfinite(parameter.grad)).sum())
            report.fail(name, f"has a non-finite gradient ({bad} of {parameter.grad.numel()} values are NaN/Inf)")
