"""`registration`: everything the model holds is a registered parameter, buffer or submodule.

Two look-alikes are notes, not failures: a module holding no state at all (no parameters,
buffers or tensors) kept in a plain container loses nothing from `.parameters()`, `state_dict()`
or `.to()` (train-eval still checks that its mode does not matter); and a plain tensor attribute
that `forward` re-derives from its input every call (tried on the meta device, then on the CPU
with a stand-in of another dtype in its place).
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_nnlint.checks._support import Report, check_function, pristine_model
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.checks._rederived import rederived_by_forward
from pytest_nnlint.walk import Reached, walk


@check_function("registration")
def registration(spec: ModelSpec, device: torch.device, report: Report) -> None:
    """Report every tensor and module reachable from the model's attributes - plain attributes,
    lists, tuples and dicts included - that PyTorch does not know about. What is registered does
    not depend on the device, so the instance stays where the factory built it: the walk only
    reads it, and only the forward pass that looks for re-derived tensors needs a copy."""
    reached = walk(pristine_model(spec))
    found = [item for item in reached if not item.registered and item.inside is None]
    plain_tensors = {item.path for item in found if item.is_tensor and item.rule == "NN103"}
    rederived = rederived_by_forward(spec, plain_tensors) if plain_tensors else {}
    for item in found:
        if item.is_module and is_stateless(item, reached):
            report.note(
                f"{item.path}: {type(item.value).__name__} held in a plain {item.container or 'attribute'} "
                "is not registered, but it holds no parameters, buffers or tensors, so nothing is lost "
                "(train-eval checks that its mode does not matter)"
            )
        elif item.path in rederived:
            report.note(f"{item.path}: not registered, but {rederived[item.path]}")
        else:
            report.fail(item.path, explain_unregistered(item), item.rule)


def is_stateless(item: Reached, reached: list[Reached]) -> bool:
    """A module with no parameters, buffers, or tensors held anywhere inside it."""
    module: nn.Module = item.value
    if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
        return False
    return not any(other.is_tensor and other.inside == item.path for other in reached)


def explain_unregistered(item: Reached) -> str:
    """Why an unregistered object is a problem, and what to write instead."""
    attribute = item.path.rsplit(".", 1)[-1].split("[", 1)[0]
    held_in = f"held in a plain {item.container}" if item.container else "a plain attribute"
    if item.rule == "NN104":
        if any(True for _ in item.value.parameters()) or any(True for _ in item.value.buffers()):
            consequence = "its parameters and buffers are missing from .parameters() and state_dict(), and .to()/.eval() never reach it"
        else:
            consequence = ".to()/.eval()/.train() never reach it"
        return (
            f"{type(item.value).__name__} {held_in} is not a registered submodule: {consequence}; "
            "use nn.ModuleList / nn.ModuleDict"
        )
    tensor = item.value
    described = f"{'nn.Parameter' if item.kind == 'parameter' else 'tensor'} {tuple(tensor.shape)} {tensor.dtype}"
    if item.rule == "NN105":
        return (
            f"{described} {held_in} is not registered: the optimizer never sees it via "
            ".parameters() and it is missing from state_dict(); use nn.ParameterList / nn.ParameterDict"
        )
    if item.rule == "NN106":
        return (
            f"{described} requires grad but is the result of an operation (nn.Parameter(t).to(...) "
            "/ .cuda() / .double() returns a plain tensor), so it is not a parameter and never "
            f"trains; write nn.Parameter(t.to(...))"
        )
    if item.container:
        return (
            f"{described} {held_in} is not registered: it does not follow .to()/.cuda() and is "
            "missing from state_dict(); register each tensor with self.register_buffer(...)"
        )
    return (
        f"{described} stored as a plain attribute is not registered: it does not follow "
        f".to()/.cuda() and is missing from state_dict(); use self.register_buffer({attribute!r}, ...) "
        "(persistent=False only for a constant the model can recompute, never for state it updates, "
        "such as running statistics: that belongs in the checkpoint)"
    )
