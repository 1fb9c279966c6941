"""`parity` (accelerators only): CPU and the accelerator agree on outputs and gradients within
dtype tolerances, with TF32 off (the state guard restores it)."""

from __future__ import annotations

import torch

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
    move_inputs,
    seeded,
    tensor_leaves,
    tolerances,
)
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.state import tf32_disabled

CPU = torch.device("cpu")


@check_function("parity", accelerator_only=True)
def parity(spec: ModelSpec, device: torch.device, report: Report) -> None:
    tf32_disabled()  # restored by the state guard

    reference = build_on(spec, CPU)
    candidate = build_on(spec, device)
    try:
        candidate.load_state_dict(reference.state_dict())
    except Exception as exc:
        raise fatal(f"copying the CPU weights to {device} failed: {describe_exception(exc)}") from exc
    frozen = apply_frozen(spec, reference)
    apply_frozen(spec, candidate)
    # Eval mode: dropout draws differ between devices; gradients still flow.
    reference.eval()
    candidate.eval()

    seeded(spec.seed)  # the same inputs on both devices: built once on CPU, then copied
    cpu_arguments = make_inputs(spec, CPU)
    device_arguments = move_inputs(cpu_arguments, device)

    cpu_output = forward(reference, cpu_arguments, "on cpu")
    device_output = forward(candidate, device_arguments, f"on {device}")
    for path, difference in compare_leaves(tensor_leaves(cpu_output), tensor_leaves(device_output), spec=spec):
        report.fail(path, f"differs between cpu and {device}: {difference}")

    cpu_loss = compute_loss(spec, cpu_output)
    device_loss = compute_loss(spec, device_output)
    if not cpu_loss.requires_grad:
        report.note("skipped the gradient comparison: the loss does not depend on the parameters")
        return
    backward(cpu_loss, "on cpu")
    backward(device_loss, f"on {device}")
    device_parameters = dict(candidate.named_parameters())
    for name, parameter in reference.named_parameters():
        if name in frozen:
            continue
        expected, actual = parameter.grad, device_parameters[name].grad
        if (expected is None) != (actual is None):
            report.fail(name, f"has a gradient on {'cpu' if actual is None else device} only")
            continue
        if expected is None:
            continue
        # Gradients accumulate rounding from the whole graph: scale atol by the gradient's size.
        rtol, atol = tolerances(spec, expected.dtype)
        scale = max(1.0, float(expected.abs().max()))
        if not torch.allclose(actual.to(CPU), expected, rtol=rtol, atol=atol * scale, equal_nan=True):
            worst = float((actual.to(CPU).double() - expected.double()).abs().max())
            report.fail(
                name,
                f"gradient differs between cpu and {device}: max abs difference {worst:.3g} "
                f"(rtol={rtol:g}, atol={atol * scale:g})",
            )
