"""Tells a parameter that forward leaves out of the output by design, for these inputs, apart from
one that nothing uses or whose gradient is cut.

Trainable parameters that no pass gave a gradient are followed through one traced eval-mode
pass (gradients on, nothing random):

- *conditional*: it took part in no computation, and the deepest module above it that ran has a
  `forward` (or a method forward calls) that reads it (`self.<attribute>`): another input or
  setting uses it. transformers' DINOv2 `mask_token` (read only given `bool_masked_pos`),
  Longformer's global-attention projections (only given a global attention mask).
- *discarded*: forward computes with it, but nothing derived from it reaches the output and
  nothing cuts its gradient: its result feeds something these inputs do not produce, such as
  UperNet's auxiliary head, whose logits only enter the loss given `labels`.
- otherwise a failure stays a failure: an auxiliary head forward never calls, a parameter no
  forward reads, or a path cut by `.detach()`, `torch.no_grad()` or a non-differentiable op.
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
from pytest_nnlint.checks._support import forward, make_inputs, seeded, tensor_leaves
from pytest_nnlint.spec import ModelSpec

CONDITIONAL = "conditional"
DISCARDED = "discarded"


class _ParameterFlow(TorchFunctionMode):
    """Which of some parameters enter a computation, and where what is computed from them goes."""

    def __init__(self, watched: dict[int, str]) -> None:
        super().__init__()
        self._origin: dict[int, frozenset[str]] = {key: frozenset({name}) for key, name in watched.items()}
        self._alive: list[torch.Tensor] = []  # keeps ids unique for the length of the pass
        self.entered: set[str] = set()
        self.cut: set[str] = set()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        produced = list(tensors_in(result))
        # Only computations count: `is_floating_point()`, `.shape` or `.dtype` (transformers'
        # `model.dtype` asks every parameter) read a tensor without using it.
        if not produced:
            return result
        origin = frozenset().union(*(self._origin.get(id(t), frozenset()) for t in tensors_in((args, kwargs))))
        if not origin:
            return result
        self.entered |= origin
        for tensor in produced:
            if not tensor.requires_grad:  # .detach(), torch.no_grad(), argmax...: the gradient stops here
                self.cut |= origin
            self._origin[id(tensor)] = self._origin.get(id(tensor), frozenset()) | origin
            self._alive.append(tensor)
        return result

    def reaching(self, output: Any) -> set[str]:
        return set().union(*(self._origin.get(id(t), frozenset()) for _, t in tensor_leaves(output)))


def unused_by_design(spec: ModelSpec, model: nn.Module, device: torch.device, names: set[str]) -> dict[str, tuple[str, str]]:
    """Of `names` (trainable parameters no pass gave a gradient), those these inputs leave out by
    design: name -> (CONDITIONAL, the class whose forward reads it) or (DISCARDED, '')."""
    parameters = dict(model.named_parameters())
    modules = dict(model.named_modules())
    ran: set[str] = set()
    handles = [
        module.register_forward_pre_hook(lambda _module, _args, path=path: ran.add(path))
        for path, module in modules.items()
    ]
    flow = _ParameterFlow({id(parameters[name]): name for name in names})
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), flow:
            seeded(spec.seed, device)
            output = forward(model, make_inputs(spec, device), f"on {device} in eval mode")
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)  # no backward runs here: no gradient to reset
    reaching = flow.reaching(output)
    found = {}
    for name in (n for n in parameters if n in names):  # in the model's order
        if name in flow.entered:
            if name not in flow.cut and name not in reaching:
                found[name] = (DISCARDED, "")
            continue
        owner = _reading_owner(name, modules, ran)
        if owner is not None:
            found[name] = (CONDITIONAL, owner)
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
    """The `self.<name>` attributes that the class's forward reads, directly or through the
    class's own methods it calls (`self._global_attention(...)`); empty without source."""
    read: set[str] = set()
    pending, visited = ["forward"], set()
    while pending:
        method = pending.pop()
        visited.add(method)
        attributes = _self_attributes(getattr(cls, method, None))
        read |= attributes
        pending += [a for a in attributes if a not in visited and inspect.isfunction(getattr(cls, a, None))]
    return frozenset(read)


def _self_attributes(function: Any) -> set[str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return set()
    definition = tree.body[0]
    if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)) or not definition.args.args:
        return set()
    receiver = definition.args.args[0].arg
    return {
        node.attr
        for node in ast.walk(definition)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == receiver
    }
