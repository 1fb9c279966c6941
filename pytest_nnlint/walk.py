"""Everything a model holds: registered parameters, buffers and submodules, and the tensors and
modules it keeps outside PyTorch's registries (plain attributes, lists, tuples, dicts).

Paths are written the way a user would reach the object: `encoder.offset`, `blocks[1]`,
`heads['cls'].weight`.
"""

from __future__ import annotations

import ast
import re

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# Module.__dict__ entries that *are* the registries; everything else is a plain attribute.
_REGISTRIES = frozenset({"_parameters", "_buffers", "_modules"})
# Bounds that keep a walk cheap on models that hold large Python structures.
MAX_CONTAINER_ITEMS = 10_000
MAX_DEPTH = 8
_ATOMS = frozenset({int, float, bool, str, bytes, type(None), torch.dtype, torch.device, torch.Size})


@dataclass(frozen=True)
class Reached:
    """A tensor or module reachable from the model."""

    path: str
    value: Any  # torch.Tensor or nn.Module
    registered: bool
    kind: str  # "parameter", "buffer", "submodule", "tensor attribute", "tensor", "parameter", "module"
    container: str | None = None  # "list", "tuple", "dict"... when held in a plain container
    rule: str | None = None  # the static rule describing why it is not registered
    inside: str | None = None  # path of the unregistered module that holds it, if any

    @property
    def is_tensor(self) -> bool:
        return isinstance(self.value, torch.Tensor)

    @property
    def is_module(self) -> bool:
        return isinstance(self.value, nn.Module)


def join(prefix: str, name: str) -> str:
    if not prefix:
        return name
    if name.startswith("["):
        return prefix + name
    return f"{prefix}.{name}"


def walk(root: nn.Module) -> list[Reached]:
    """Every tensor and module reachable from `root`, each once, registered ones first."""
    return list(_Walker(root).run())


def unregistered(root: nn.Module) -> list[Reached]:
    """Tensors and modules the model holds outside its registries (not their contents)."""
    return [item for item in walk(root) if not item.registered and item.inside is None]


def display_path(path: str) -> str:
    return path or "model"


_STEP = re.compile(r"\.?([A-Za-z_]\w*)|\[([^\]]+)\]")


def replace_at(root: nn.Module, path: str, value: Any) -> bool:
    """Put `value` where `path` (as `walk` writes it) points. False, changing nothing, when the
    path cannot be followed or ends in something immutable (a tuple)."""
    steps: list[Any] = []
    position = 0
    for match in _STEP.finditer(path):
        if match.start() != position:
            return False
        position = match.end()
        if match.group(1) is not None:
            steps.append(("attribute", match.group(1)))
            continue
        try:
            steps.append(("item", ast.literal_eval(match.group(2))))
        except (ValueError, SyntaxError):
            return False
    if not steps or position != len(path):
        return False
    holder: Any = root
    try:
        for kind, key in steps[:-1]:
            holder = getattr(holder, key) if kind == "attribute" else holder[key]
        kind, key = steps[-1]
        if kind == "attribute":
            setattr(holder, key, value)
        elif isinstance(holder, (list, dict)):
            holder[key] = value
        else:
            return False
    except (AttributeError, LookupError, TypeError):
        return False
    return True


class _Walker:
    def __init__(self, root: nn.Module) -> None:
        self.root = root
        self.registered_modules = {id(module) for module in root.modules()}
        self.registered_tensors = {id(t) for t in root.parameters()} | {id(t) for t in root.buffers()}
        self.seen: set[int] = set()
        self.found: list[Reached] = []

    def run(self) -> Iterator[Reached]:
        for prefix, module in self.root.named_modules():
            self._registered_contents(prefix, module)
        for prefix, module in self.root.named_modules():
            self._attributes(prefix, module, owner=None)
        return iter(self.found)

    def _registered_contents(self, prefix: str, module: nn.Module) -> None:
        self.found.append(Reached(prefix, module, True, "submodule"))
        for name, parameter in module.named_parameters(recurse=False):
            self.found.append(Reached(join(prefix, name), parameter, True, "parameter"))
        for name, buffer in module.named_buffers(recurse=False):
            self.found.append(Reached(join(prefix, name), buffer, True, "buffer"))

    def _attributes(self, prefix: str, module: nn.Module, owner: Reached | None) -> None:
        recomputed = _recomputed_attributes(module)
        for name, value in vars(module).items():
            if name in _REGISTRIES or name in recomputed:
                continue
            self._visit(value, join(prefix, name), container=None, owner=owner, depth=0)

    def _visit(self, value: Any, path: str, container: str | None, owner: Reached | None, depth: int) -> None:
        if type(value) in _ATOMS:  # most attributes: settle them before any isinstance check
            return
        if isinstance(value, torch.Tensor):
            self._tensor(value, path, container, owner)
        elif isinstance(value, nn.Module):
            self._module(value, path, container, owner)
        elif depth >= MAX_DEPTH:
            return
        elif isinstance(value, (dict, Mapping)):  # dict first: the ABC check is slow
            for index, (key, item) in enumerate(value.items()):
                if index >= MAX_CONTAINER_ITEMS:
                    break
                self._visit(item, f"{path}[{key!r}]", type(value).__name__, owner, depth + 1)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for index, item in enumerate(value):
                if index >= MAX_CONTAINER_ITEMS:
                    break
                self._visit(item, f"{path}[{index}]", type(value).__name__, owner, depth + 1)

    def _tensor(self, tensor: torch.Tensor, path: str, container: str | None, owner: Reached | None) -> None:
        if id(tensor) in self.registered_tensors or id(tensor) in self.seen:
            return  # an alias of something registered, or already reported
        self.seen.add(id(tensor))
        if owner is not None:
            self.found.append(Reached(path, tensor, False, "tensor", container, owner.rule, owner.path))
            return
        if isinstance(tensor, nn.Parameter):
            rule, kind = "NN105", "parameter"
        elif tensor.requires_grad and tensor.grad_fn is not None:
            rule, kind = "NN106", "tensor attribute"  # nn.Parameter(t).to(...) is a plain result
        else:
            rule, kind = "NN103", "tensor attribute"
        self.found.append(Reached(path, tensor, False, kind, container, rule))

    def _module(self, module: nn.Module, path: str, container: str | None, owner: Reached | None) -> None:
        if id(module) in self.registered_modules or id(module) in self.seen:
            return
        self.seen.add(id(module))
        if owner is None:
            owner = Reached(path, module, False, "module", container, "NN104")
            self.found.append(owner)
        else:
            self.found.append(Reached(path, module, False, "module", container, owner.rule, owner.path))
        # Its contents follow the container's fate: they are invisible to the root's registries.
        for name, parameter in module.named_parameters(recurse=False):
            self._tensor(parameter, join(path, name), None, owner)
        for name, buffer in module.named_buffers(recurse=False):
            self._tensor(buffer, join(path, name), None, owner)
        for name, child in module.named_children():
            self._module(child, join(path, name), None, owner)
        self._attributes(path, module, owner)


def _recomputed_attributes(module: nn.Module) -> set[str]:
    """Attributes that a forward pre-hook recomputes every call (torch.nn.utils.weight_norm and
    spectral_norm keep `weight` as a plain tensor derived from registered parameters, under the
    hook's `name`; torch.nn.utils.prune keeps `weight = weight_orig * weight_mask`, under its
    `_tensor_name`)."""
    names = set()
    for hook in module._forward_pre_hooks.values():
        for attribute in ("name", "_tensor_name"):
            name = getattr(hook, attribute, None)
            if isinstance(name, str):
                names.add(name)
    return names
