"""Tells a parameter that forward uses only on a path these inputs do not take apart from one
that nothing uses.

transformers' DINOv2 embeddings hold a `mask_token` that forward reads only when it is given
`bool_masked_pos` (masked-image pre-training): with plain images it gets no gradient, by design.
An auxiliary head that forward never calls, or a backbone whose output is detached, gets none
by mistake. One traced eval-mode pass separates them: a parameter is *conditional* when it took
part in no operation at all, the deepest module above it that ran has a `forward` whose code
reads it (`self.<attribute>`), and so some other input or setting makes forward use it. A
parameter that entered an operation and still got no gradient (a detached path), or whose
module never ran and whose owner's forward never names it, stays a failure.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from pytest_nnlint.checks._device_trace import tensors_in
from pytest_nnlint.checks._support import forward, make_inputs, seeded
from pytest_nnlint.spec import ModelSpec


class _TensorsUsed(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[int] = set()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        self.ids.update(id(t) for t in tensors_in((args, kwargs)))
        return func(*args, **kwargs)


def conditional_parameters(
    spec: ModelSpec, model: nn.Module, device: torch.device, names: set[str]
) -> dict[str, str]:
    """Of `names` (trainable parameters no pass gave a gradient), those that forward uses only on
    another path: name -> the class whose forward reads it, e.g. 'Dinov2Embeddings'."""
    parameters = dict(model.named_parameters())
    modules = dict(model.named_modules())
    ran: set[str] = set()
    handles = [
        module.register_forward_pre_hook(lambda _module, _args, path=path: ran.add(path))
        for path, module in modules.items()
    ]
    used = _TensorsUsed()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), used:
            seeded(spec.seed, device)
            forward(model, make_inputs(spec, device), f"on {device} in eval mode")
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    found = {}
    for name in sorted(names):
        if id(parameters[name]) in used.ids:
            continue
        owner = _reading_owner(name, modules, ran)
        if owner is not None:
            found[name] = owner
    return found


def _reading_owner(name: str, modules: dict[str, nn.Module], ran: set[str]) -> str | None:
    """The class name of the deepest module above `name` that ran, when its forward reads the
    next attribute on the way down to the parameter."""
    parts = name.split(".")
    for depth in range(len(parts) - 1, -1, -1):
        path = ".".join(parts[:depth])
        if path in ran:
            cls = type(modules[path])
            return cls.__name__ if parts[depth] in _attributes_read_by_forward(cls) else None
    return None


@functools.lru_cache(maxsize=256)
def _attributes_read_by_forward(cls: type) -> frozenset[str]:
    """The `self.<name>` attributes that the class's forward reads (empty when its source is not
    available)."""
    method = getattr(cls, "forward", None)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    function = tree.body[0]
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or not function.args.args:
        return frozenset()
    receiver = function.args.args[0].arg
    return frozenset(
        node.attr
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == receiver
    )
