"""Follows, through one forward pass on the CPU, what a model computes from some of its tensors,
to tell whether the pass would still run with those tensors left on another device than the
input: the question `.to()` raises for a plain tensor attribute it does not move.

Every tensor is one of: *bound* to the input's device (the inputs, the parameters and buffers,
whatever is computed from them, anything made with `device=`), *derived* from a traced
attribute (and from nothing bound), or neither (a constant made in forward). A derived tensor
becomes bound when moved with `.to(device)` / `.to(other)` / `.cuda()` or passed to a call with
`device=`. An operation that mixes a
derived tensor with a bound one (unless the derived one is 0-dimensional: PyTorch lets a CPU
scalar tensor meet tensors of any device), or a derived tensor in the output, means the
attribute must follow the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

_MOVES = frozenset({torch.Tensor.to, torch.Tensor.cuda})


class DeviceTrace(TorchFunctionMode):
    def __init__(self, attributes: dict[str, torch.Tensor], bound: Iterable[torch.Tensor]) -> None:
        super().__init__()
        self._origin: dict[int, frozenset[str]] = {}  # id of a derived tensor -> the attributes it comes from
        self._bound: set[int] = set()
        self._alive: list[torch.Tensor] = []  # keeps ids unique for the length of the pass
        self._used: set[str] = set()
        self._mixed: set[str] = set()
        for path, tensor in attributes.items():
            self._mark_derived(tensor, frozenset({path}))
        for tensor in bound:
            self._mark_bound(tensor)
        self._paths = set(attributes)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        inputs = list(tensors_in((args, kwargs)))
        derived = frozenset().union(*(self._origin[id(t)] for t in inputs if id(t) in self._origin))
        if not derived:
            if any(id(t) in self._bound for t in inputs) or "device" in kwargs:
                for tensor in tensors_in(result):
                    self._mark_bound(tensor)
            return result
        self._used |= derived
        if kwargs.get("device") is not None or (func in _MOVES and _names_a_device(args[1:], func)):
            for tensor in tensors_in(result):
                self._mark_bound(tensor)
            return result
        # Only a 0-dimensional tensor on the CPU may meet tensors of another device.
        meets_bound = any(id(t) in self._bound for t in inputs)
        if meets_bound and any(id(t) in self._origin and t.dim() > 0 for t in inputs):
            self._mixed |= derived
        for tensor in tensors_in(result):
            if id(tensor) not in self._bound:
                self._mark_derived(tensor, derived)
        return result

    def returned(self, outputs: Iterable[torch.Tensor]) -> None:
        for tensor in outputs:
            if id(tensor) in self._origin:
                self._mixed |= self._origin[id(tensor)]

    def moved_before_use(self) -> set[str]:
        """Attributes the pass used, all of whose derived tensors were moved before meeting
        anything bound to the input's device."""
        return (self._used & self._paths) - self._mixed

    def _mark_derived(self, tensor: torch.Tensor, paths: frozenset[str]) -> None:
        self._origin[id(tensor)] = paths
        self._alive.append(tensor)

    def _mark_bound(self, tensor: torch.Tensor) -> None:
        self._origin.pop(id(tensor), None)
        self._bound.add(id(tensor))
        self._alive.append(tensor)


def _names_a_device(args: tuple[Any, ...], func: Any) -> bool:
    """`.cuda()`, `.to(device)`, `.to(other_tensor)`; not `.to(dtype)`. (`device=` is any call's.)"""
    if func is torch.Tensor.cuda:
        return True
    return any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[:1])


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)
