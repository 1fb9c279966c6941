"""`registration`: everything the model holds is a registered parameter, buffer or submodule."""

from __future__ import annotations

import torch

from pytest_nnlint.checks._support import Report, build_model, check_function
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import Reached, unregistered


@check_function("registration")
def registration(spec: ModelSpec, device: torch.device, report: Report) -> None:
    """Report every tensor and module reachable from the model's attributes - plain attributes,
    lists, tuples and dicts included - that PyTorch does not know about. What is registered does
    not depend on the device, so the instance stays where the factory built it."""
    model = build_model(spec)
    for item in unregistered(model):
        report.fail(item.path, explain_unregistered(item), item.rule)


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
        f".to()/.cuda() and is missing from state_dict(); use self.register_buffer({attribute!r}, "
        "..., persistent=False)"
    )
