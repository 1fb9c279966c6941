from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from nnlint import walker
from nnlint.flow import disables_grad
from nnlint.names import dotted_name, torch_nn_layer_name
from nnlint.rule import Rule
from nnlint.semantic import ClassInfo

# In-place methods that do not change a tensor's values.
_HARMLESS_INPLACE = frozenset({"requires_grad_", "share_memory_", "retain_grad_", "record_stream_"})
_SHORT = 40


def _data_receiver(node: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """(``x``, the ``x.data`` node) for ``x.data`` or ``x.data[...]`` (any number of subscripts)."""
    while isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, cst.Attribute) and node.attr.value == "data":
        owner = node.value
        # `self.data` is a plain attribute (a dataset's samples); `x.grad.data` is a gradient
        # buffer, outside the graph.
        if isinstance(owner, cst.Name) and owner.value == "self":
            return None
        if isinstance(owner, cst.Attribute) and owner.attr.value == "grad":
            return None
        if isinstance(owner, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)):
            return owner, node
    return None


@dataclass
class _Timeline:
    """One function's nodes in source order, and what the rule needs to know about order."""

    order: dict[cst.CSTNode, int] = field(default_factory=dict)
    assigned: dict[str, list[int]] = field(default_factory=dict)  # name -> positions assigned
    backwards: list[tuple[int, str]] = field(default_factory=list)  # (position, loss variable)
    used: dict[str, list[int]] = field(default_factory=dict)  # dotted name -> positions read or called


def _backward_subject(call: cst.Call) -> str | None:
    """`loss` in `loss.backward()`, `scaler.scale(loss).backward()`, `accelerator.backward(loss)`."""
    receiver = call.func.value  # type: ignore[attr-defined]
    if isinstance(receiver, cst.Call):
        scaled = isinstance(receiver.func, cst.Attribute) and receiver.func.attr.value == "scale"
        return dotted_name(receiver.args[0].value) if scaled and receiver.args else None
    if call.args and call.args[0].keyword is None and "accelerat" in (dotted_name(receiver) or ""):
        return dotted_name(call.args[0].value)
    return dotted_name(receiver)


def _timeline(function: cst.CSTNode) -> _Timeline:
    line = _Timeline()
    targets: set[cst.CSTNode] = set()

    def enter(node: cst.CSTNode) -> bool:
        if node is not function and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        position = line.order[node] = len(line.order)
        if node in targets and isinstance(node, (cst.Attribute, cst.Subscript)):
            targets.add(node.value)  # `a.b` in the target `a.b.data[0]` is written, not read
        if isinstance(node, cst.Assign):
            for target in node.targets:
                targets.add(target.target)
                for name in _names(target.target):
                    line.assigned.setdefault(name, []).append(position)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            targets.add(node.target)
            for name in _names(node.target):
                line.assigned.setdefault(name, []).append(position)
        elif isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "backward":
                subject = _backward_subject(node)
                if subject is not None:
                    line.backwards.append((position, subject))
            if isinstance(func, cst.Attribute) and func.attr.value == "forward":
                func = func.value  # `layer.forward(x)` uses `layer`
            name = dotted_name(func)
            if name is not None:
                line.used.setdefault(name, []).append(position)
        elif isinstance(node, (cst.Name, cst.Attribute)) and node not in targets:
            name = dotted_name(node)
            if name is not None:
                line.used.setdefault(name, []).append(position)
        return True

    walker.walk(function, enter)
    return line


def _names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for element in target.elements for n in _names(element.value)]
    if isinstance(target, cst.StarredElement):
        return _names(target.value)
    name = dotted_name(target)
    return [name] if name is not None else []


class DataAttributeMutation(Rule):
    code = "NN502"
    name = "data-attribute-mutation"
    summary = "an in-place write through `.data` to a tensor autograd may have saved for the backward pass"
    what = (
        "Flags writes through `.data` -- `p.data.add_(...)`, `p.data.clamp_(...)`, `p.data = t`, "
        "`p.data[i] = v`, `p.data -= lr * g` -- where autograd may already hold the tensor for a "
        "backward pass that has not run yet: in a function that builds `loss` before the write "
        "and calls `loss.backward()` after it, or in a Module's `forward` after the tensor (or the "
        "layer that owns it) was used. Writes before the forward pass or after `backward()` (the "
        "classic weight clipping and manual SGD updates), initialisation, writes under "
        "`torch.no_grad()`, gradient buffers (`p.grad.data`) and `self.data` attributes are left "
        "alone."
    )
    why = (
        "`.data` hands out the same storage with autograd switched off: the write bumps no "
        "version counter. When the tensor was saved for a backward pass that runs later, autograd "
        "computes the gradients from the new values, silently -- a write under `torch.no_grad()` "
        "would instead raise `one of the variables needed for gradient computation has been "
        "modified by an inplace operation`. PyTorch documents `.data` as a legacy API and "
        "recommends `torch.no_grad()` (or `.detach()`) instead."
    )
    use_instead = (
        "import torch\n\nloss = criterion(model(x), y)\nloss.backward()\nwith torch.no_grad():\n"
        "    for p in model.parameters():\n        p.clamp_(-0.01, 0.01)\n"
    )
    VALID = [
        # After backward(): the graph is gone, nothing saved can be corrupted.
        "def train(model, optimizer, loader, clip):\n    for x, y in loader:\n        optimizer.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n        for p in model.parameters():\n            p.data.clamp_(-clip, clip)\n",
        "def sgd_step(params, loss, lr):\n    loss.backward()\n    for p in params:\n        p.data -= lr * p.grad.data\n",
        # Initialisation and projections before the tensor is used.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n        self.fc.weight.data.normal_(0.0, 0.02)\n\n    def forward(self, x):\n        if self.training:\n            self.fc.weight.data = F.normalize(self.fc.weight.data, dim=1)\n        new = nn.Linear(2, 2)\n        new.bias.data[0] = 0.0\n        return self.fc(x) + new(x)\n",
        # Under no_grad.
        "import torch\n\ndef train(model, opt, x, y):\n    loss = model(x, y)\n    with torch.no_grad():\n        for p in model.parameters():\n            p.data.mul_(0.99)\n    loss.backward()\n",
        # The loss is built again after the write.
        "def train(model, x, y, noise):\n    loss = model(x, y)\n    for p in model.parameters():\n        p.data.add_(noise)\n    loss = model(x, y)\n    loss.backward()\n",
        # Gradient buffers and dataset attributes.
        "def train(model, opt, x):\n    loss = model(x)\n    for p in model.parameters():\n        p.grad.data.zero_()\n    loss.backward()\n\nclass Data:\n    def forward(self):\n        self.data = []\n",
    ]
    INVALID = [
        "import torch.nn.functional as F\n\ndef train_step(model, opt, x, y, noise):\n    opt.zero_grad()\n    loss = F.mse_loss(model(x), y)\n    for p in model.parameters():\n        p.data.add_(noise)  # error\n    loss.backward()\n    opt.step()\n",
        "def step(model, scaler, batch, lr):\n    loss = model(**batch).loss\n    model.head.weight.data[0] = 0.0  # error\n    scaler.scale(loss).backward()\n",
        "import torch.nn as nn\n\nclass Clipped(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n    def forward(self, x):\n        out = self.fc(x)\n        self.fc.weight.data.clamp_(-1, 1)  # error\n        return out\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._timelines: dict[cst.CSTNode, _Timeline] = {}
        self._layers: dict[str, set[str]] = {}
        self._no_grad_withs: dict[cst.With, bool] = {}

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value.endswith("_")):
            return
        method = func.attr.value
        if method in _HARMLESS_INPLACE or method.startswith("__"):
            return
        found = _data_receiver(func.value)
        if found is None:
            return
        owner, data = found
        hazard = self._hazard(owner)
        if hazard is None:
            return
        owner_code = self._code(owner)
        rest = self._suffix(func.value, data)
        self.report(
            node,
            f"`{self._code(data)}{rest}.{method}(...)` changes `{owner_code}` behind autograd's back "
            f"{hazard}: the gradients will be computed from the new values, silently; write "
            f"`with torch.no_grad(): {owner_code}{rest}.{method}(...)` (autograd then raises if "
            f"the change breaks the backward pass), or move the write after `backward()`",
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check_write(target.target, node.value, "=")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check_write(node.target, node.value, self.ctx.module.code_for_node(node.operator).strip())

    def _check_write(self, target: cst.BaseExpression, value: cst.BaseExpression, operator: str) -> None:
        found = _data_receiver(target)
        if found is None:
            return
        owner, data = found
        hazard = self._hazard(owner)
        if hazard is None:
            return
        owner_code = self._code(owner)
        rest = self._suffix(target, data)
        value_code = self._code(value)
        if operator == "=" and not rest:
            instead = f"with torch.no_grad(): {owner_code}.copy_({value_code})"
            action = f"assigning `{self._code(data)}` swaps the values of `{owner_code}`"
        else:
            instead = f"with torch.no_grad(): {owner_code}{rest} {operator} {value_code}"
            action = f"`{self._code(data)}{rest} {operator} ...` changes `{owner_code}`"
        self.report(
            target,
            f"{action} behind autograd's back {hazard}: the gradients will be computed from the "
            f"new values, silently; write `{instead}`, or move the write after `backward()`",
        )

    # -- when the write is a hazard ------------------------------------------------------------

    def _hazard(self, owner: cst.BaseExpression) -> str | None:
        """Why autograd may hold ``owner`` at the current write, or None when it cannot (or
        under no_grad, or outside functions)."""
        ctx = self.ctx
        function = ctx.enclosing_function
        if function is None or not ctx.scopes or not isinstance(ctx.scopes[-1], cst.FunctionDef) or not ctx.statements:
            return None
        if any(disables_grad(self.ctx, d.decorator) for d in function.decorators):
            return None
        if any(isinstance(block, cst.With) and self._with_disables_grad(block) for block in ctx.blocks):
            return None
        line = self._timelines.get(function)
        if line is None:
            line = self._timelines[function] = _timeline(function)
        here = line.order.get(ctx.statements[-1])
        if here is None:
            return None
        for position, loss in line.backwards:
            if position <= here:
                continue
            built = [p for p in line.assigned.get(loss, ()) if p < position]
            if built and built[-1] < here:
                return f"between building `{loss}` and `{loss}.backward()`"
        info = ctx.method_class
        if function.name.value == "forward" and info is not None and ctx.is_module_class(info):
            owner_name = dotted_name(owner)
            if owner_name is None:
                return None
            uses = list(line.used.get(owner_name, ()))
            # Calling a torch layer uses its weight and bias; calling a model of our own may not
            # use the parameter at all (a logit scale used by a later head).
            layer, _, _ = owner_name.rpartition(".")
            if layer.startswith("self.") and layer.count(".") == 1 and layer[5:] in self._torch_layers(info):
                uses += line.used.get(layer, ())
            if any(p < here for p in uses):
                return f"in `forward` after `{owner_name}` was used"
        return None

    def _torch_layers(self, info: ClassInfo) -> set[str]:
        """Attributes of ``self`` that every assignment in the class sets to a `torch.nn` layer."""
        found = self._layers.get(info.qualname)
        if found is not None:
            return found
        verdicts: dict[str, bool] = {}
        for method in info.methods.values():
            for node in walker.iter_nodes(method.body):
                if not isinstance(node, cst.Assign):
                    continue
                for target in node.targets:
                    attr = target.target
                    if isinstance(attr, cst.Attribute) and isinstance(attr.value, cst.Name) and attr.value.value == "self":
                        value = node.value
                        name = self.ctx.qualified_name(value.func) if isinstance(value, cst.Call) else None
                        verdict = name is not None and torch_nn_layer_name(name)
                        verdicts[attr.attr.value] = verdicts.get(attr.attr.value, True) and verdict
        found = self._layers[info.qualname] = {attr for attr, ok in verdicts.items() if ok}
        return found

    def _suffix(self, node: cst.CSTNode, data: cst.CSTNode) -> str:
        """The subscripts written after `.data` (`[0]` in `p.data[0]`)."""
        code = self.ctx.module.code_for_node
        return code(node)[len(code(data)) :]

    def _code(self, node: cst.CSTNode) -> str:
        code = self.ctx.module.code_for_node(node)
        return code if len(code) <= _SHORT else code[: _SHORT - 3] + "..."

    def _with_disables_grad(self, node: cst.With) -> bool:
        verdict = self._no_grad_withs.get(node)
        if verdict is None:
            verdict = self._no_grad_withs[node] = any(disables_grad(self.ctx, item.item) for item in node.items)
        return verdict
