"""Plain tensor attributes that `forward` re-derives from its input on every call (torchvision's
anchor generators, per-call caches): `.to()` need not move them, so they are notes, not failures.

Two tests, each on a fresh instance; anything that keeps a test from running means "cannot
tell", and nothing is excused.
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_nnlint.checks._support import build_model, call_inputs, call_model
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import replace_at, walk

META = torch.device("meta")
CPU = torch.device("cpu")
ON_THE_INPUTS_DEVICE = "forward re-derives it on the input's device"
FROM_THE_INPUT = "forward rebuilds it from the input on every call (seen on the CPU: it followed the input's dtype)"


def rederived_by_forward(spec: ModelSpec, paths: set[str]) -> dict[str, str]:
    """Of these attribute paths, the re-derived ones, each with how that was seen."""
    found = dict.fromkeys(left_on_meta(spec, build_model(spec), paths), ON_THE_INPUTS_DEVICE)
    rest = paths - found.keys()
    if rest:
        found.update(dict.fromkeys(replaced_by_forward(spec, build_model(spec), rest), FROM_THE_INPUT))
    return found


def left_on_meta(spec: ModelSpec, model: nn.Module, paths: set[str]) -> set[str]:
    """A forward pass with model and inputs on the meta device: the attributes it leaves on meta
    were re-derived on the input's device."""
    try:
        model.to(META)
        with torch.no_grad():
            call_model(model, call_inputs(spec, META))
    except Exception:
        return set()
    now = {item.path: item.value for item in walk(model) if item.is_tensor}
    return {path for path in paths if path in now and now[path].device.type == "meta"}


def replaced_by_forward(spec: ModelSpec, model: nn.Module, paths: set[str]) -> set[str]:
    """For models the meta device cannot run (detection heads, data-dependent shapes): each
    attribute is swapped for a stand-in of another dtype (float64 for float32, a copy otherwise)
    and a CPU forward pass runs; an attribute that no longer holds its stand-in afterwards was
    rebuilt from the input (`anchors.to(dtype=x.dtype, device=x.device)`, a per-call cache)."""
    stand_ins = {}
    for item in walk(model):
        if item.path in paths and item.is_tensor:
            stand_in = _stand_in(item.value)
            if replace_at(model, item.path, stand_in):
                stand_ins[item.path] = stand_in
    if not stand_ins:
        return set()
    try:
        with torch.no_grad():
            call_model(model, call_inputs(spec, CPU))
    except Exception:
        return set()
    now = {item.path: item.value for item in walk(model) if item.is_tensor}
    return {path for path, stand_in in stand_ins.items() if path in now and now[path] is not stand_in}


def _stand_in(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.is_floating_point():
        return tensor.detach().to(torch.float32 if tensor.dtype == torch.float64 else torch.float64)
    return tensor.detach().clone()
