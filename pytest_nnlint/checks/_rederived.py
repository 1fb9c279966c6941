"""Plain tensor attributes that `forward` re-derives from its input on every call (torchvision's
anchor generators, per-call caches): `.to()` need not move them, so they are notes, not failures.

Two tests, each on a fresh instance; anything that keeps a test from running means "cannot
tell", and nothing is excused.
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_nnlint.checks._device_trace import DeviceTrace
from pytest_nnlint.checks._support import build_model, call_inputs, call_model, tensor_leaves
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import replace_at, walk

META = torch.device("meta")
CPU = torch.device("cpu")
ON_THE_INPUTS_DEVICE = "forward re-derives it on the input's device"
FROM_THE_INPUT = "forward rebuilds it from the input on every call (seen on the CPU: it followed the input's dtype)"
MOVED_BEFORE_USE = (
    "forward computes with it where it is and moves the result to the input's device before it meets "
    "the input (traced on the CPU)"
)


def rederived_by_forward(spec: ModelSpec, paths: set[str]) -> dict[str, str]:
    """Of these attribute paths, the re-derived ones, each with how that was seen."""
    found = dict.fromkeys(left_on_meta(spec, build_model(spec), paths), ON_THE_INPUTS_DEVICE)
    found.update(rederived_on_the_cpu(spec, paths - found.keys()))
    return found


def rederived_on_the_cpu(spec: ModelSpec, paths: set[str]) -> dict[str, str]:
    """The tests for models the meta device cannot run (detection heads, data-dependent shapes)."""
    found = dict.fromkeys(replaced_by_forward(spec, build_model(spec), paths), FROM_THE_INPUT) if paths else {}
    rest = paths - found.keys()
    if rest:
        found.update(dict.fromkeys(moved_before_use(spec, build_model(spec), rest), MOVED_BEFORE_USE))
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
    and a CPU forward pass runs; an attribute that holds a tensor of another dtype afterwards was
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
    # Replaced by a tensor of another dtype than its stand-in: rebuilt from the input, not a
    # value updated from itself (state, which must be registered).
    return {path for path, stand_in in stand_ins.items() if path in now and now[path].dtype != stand_in.dtype}


def _stand_in(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.is_floating_point():
        return tensor.detach().to(torch.float32 if tensor.dtype == torch.float64 else torch.float64)
    return tensor.detach().clone()


def moved_before_use(spec: ModelSpec, model: nn.Module, paths: set[str]) -> set[str]:
    """Constants a model keeps on the CPU on purpose (torchvision SSD's default-box sizes): a
    CPU forward pass is traced, following what is computed from each attribute; it is harmless
    on any device if everything computed from it is moved (`.to(device)`) before it meets the
    input, the parameters or the output."""
    attributes = {item.path: item.value for item in walk(model) if item.path in paths and item.is_tensor}
    if not attributes:
        return set()
    try:
        arguments = call_inputs(spec, CPU)
    except Exception:
        return set()
    bound = [t for _, t in tensor_leaves(arguments, "inputs")]
    bound += list(model.parameters()) + list(model.buffers())
    trace = DeviceTrace(attributes, bound)
    try:
        with torch.no_grad(), trace:
            output = call_model(model, arguments)
    except Exception:
        return set()
    trace.returned(t for _, t in tensor_leaves(output))
    return trace.moved_before_use()
