from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.flow import AssignEvent, CallEvent, FunctionFlow, methods_of
from nnlint.modes import known_models
from nnlint.names import dotted_name
from nnlint.rule import Invalid, NodeFix, Rule

# Iterating over these yields modules, whatever the receiver is.
_MODULE_ITERATORS = frozenset({"modules", "children"})
_NAMED_MODULE_ITERATORS = frozenset({"named_modules", "named_children"})
# Containers whose elements are modules.
_MODULE_CONTAINERS = frozenset({"torch.nn.ModuleList", "torch.nn.Sequential"})


class ForwardCalledDirectly(Rule):
    code = "NN206"
    name = "forward-called-directly"
    summary = "`module.forward(x)` bypasses the module's hooks; call `module(x)`"
    what = (
        "Flags `m.forward(...)` where `m` is known to be a module: built from a Module class in "
        "the same function (`m = Net().to(device)`), a `self.m` that the class assigns a Module, a "
        "parameter annotated with a Module class, or a loop variable over `.modules()`, "
        "`.children()` or an `nn.ModuleList` / `nn.Sequential` attribute. Off by default: unit "
        "tests call `.forward()` on purpose (parameter-free modules, comparing implementations) "
        "and application code rarely has hooks to skip, so on ten application repositories all "
        "8 findings were false; turn it on (`--extend-select NN206`) for library code whose "
        "modules users wrap with hooks (FSDP, quantization, pruning, profilers)."
    )
    why = (
        "`module(x)` runs `nn.Module.__call__`, which runs forward pre-hooks and hooks, backward "
        "hooks, and what libraries build on them (FSDP, activation checkpointing, quantization "
        "observers, pruning masks, `torch.compile` wrappers, profilers). `module.forward(x)` skips "
        "all of them silently."
    )
    use_instead = "output = model(x)\n"
    fix_safety = (
        "Unsafe: `module(x)` runs the hooks that `.forward(x)` skipped, which is the point, but can "
        "change behaviour when the skip was deliberate (for example to avoid a hook recursing)."
    )
    fix_availability = "unsafe"
    default_enabled = False
    needs_flow = True
    triggers = ("forward",)
    VALID = [
        "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nout = model(x)\n",
        # The parent's forward from an override.
        "import torch.nn as nn\n\nclass Net(nn.Linear):\n    def forward(self, x):\n        return super().forward(x) * 2\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __call__(self, x):\n        return self.forward(x)\n",
        # An unbound call on the class.
        "import torch.nn as nn\n\nclass Norm(nn.LayerNorm):\n    def forward(self, x):\n        return nn.LayerNorm.forward(self, x.float()).type_as(x)\n",
        # Not known to be a module.
        "def run(wrapper, x):\n    return wrapper.forward(x)\n",
        "from lib import load_model\n\nmodel = load_model()\nmodel.forward(x)\n",
        # Rebound to something that is not known to be a module.
        "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel = export(model)\nmodel.forward(x)\n",
    ]
    INVALID = [
        Invalid(
            "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n\nmodel = Net().to('cuda')\nwith torch.no_grad():\n    out = model.forward(torch.randn(1, 4))  # error\n",
            fixed="import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n\nmodel = Net().to('cuda')\nwith torch.no_grad():\n    out = model(torch.randn(1, 4))  # error\n",
        ),
        Invalid(
            "import torch.nn as nn\n\nclass Encoder(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.proj = nn.Linear(4, 4)\n        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])\n\n    def forward(self, x):\n        x = self.proj.forward(x)  # error\n        for layer in self.layers:\n            x = layer.forward(x)  # error\n        return x\n",
            fixed="import torch.nn as nn\n\nclass Encoder(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.proj = nn.Linear(4, 4)\n        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])\n\n    def forward(self, x):\n        x = self.proj(x)  # error\n        for layer in self.layers:\n            x = layer(x)  # error\n        return x\n",
        ),
        # Trainer class with self.model, and an annotated parameter.
        "import torch.nn as nn\n\nclass Trainer:\n    def __init__(self):\n        self.model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())\n\n    def step(self, x):\n        return self.model.forward(x)  # error\n\ndef predict(model: nn.Module, batches):\n    return [model.forward(x) for x in batches]  # error\n",
        "def features(model, x):\n    for name, child in model.named_children():\n        x = child.forward(x)  # error\n    return x\n",
        "import torch.nn as nn\n\nclass Stack(nn.Module):\n    def __init__(self, blocks):\n        super().__init__()\n        self.blocks = nn.Sequential(*blocks)\n\n    def forward(self, x):\n        for i, block in enumerate(self.blocks):\n            x = block.forward(x)  # error\n        return x\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        for flow in self.ctx.flows:
            calls = [
                e
                for e in flow.calls()
                if e.method == "forward" and e.receiver is not None and e.func == f"{e.receiver}.forward"
            ]
            calls = [e for e in calls if e.receiver != "self"]  # `self.forward(x)` is the module calling itself
            if not calls:
                continue
            models = known_models(self.ctx, flow)
            loop_models: dict[str, bool] | None = None
            for event in calls:
                receiver = event.receiver
                assert receiver is not None
                known = receiver in models
                if not known and "." not in receiver:
                    if loop_models is None:
                        loop_models = self._loop_models(flow, models)
                    known = loop_models.get(receiver, False)
                if known:
                    self._report(event, receiver)

    def _report(self, event: CallEvent, receiver: str) -> None:
        func = event.node.func
        assert isinstance(func, cst.Attribute)
        self.report(
            event.node,
            f"`{receiver}.forward(...)` bypasses `{receiver}`'s forward hooks (and everything built "
            f"on them); call `{receiver}(...)` instead",
            fix=NodeFix(f"call `{receiver}(...)`", "unsafe", ((func, self.ctx.module.code_for_node(func.value)),)),
        )

    def _loop_models(self, flow: FunctionFlow, models: set[str]) -> dict[str, bool]:
        """Loop variables that hold modules: `for m in x.modules()`, `for _, m in
        x.named_children()`, `for layer in self.layers` (an `nn.ModuleList`). False when a name is
        also bound by another loop that nnlint cannot read."""
        containers = self._container_attributes(flow)
        found: dict[str, bool] = {}

        def enter(node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node is not flow.node:
                return False
            if isinstance(node, (cst.For, cst.CompFor)):
                for name, is_module in self._loop_targets(node.iter, node.target, containers):
                    found[name] = found.get(name, True) and is_module
            return True

        walker.walk(flow.node, enter)
        return found

    def _loop_targets(
        self, iterable: cst.BaseExpression, target: cst.BaseExpression, containers: set[str]
    ) -> list[tuple[str, bool]]:
        """(name, holds a module) for the names a `for target in iterable` binds."""
        method = (
            iterable.func.attr.value
            if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute)
            else None
        )
        if isinstance(target, cst.Name):
            is_module = method in _MODULE_ITERATORS or dotted_name(iterable) in containers
            return [(target.value, is_module)]
        if not isinstance(target, cst.Tuple):
            return []
        elements = [el.value for el in target.elements]
        names = [el.value for el in elements if isinstance(el, cst.Name)]
        if len(elements) == 2 and len(names) == 2:
            if method in _NAMED_MODULE_ITERATORS:
                return [(names[0], False), (names[1], True)]
            if isinstance(iterable, cst.Call) and dotted_name(iterable.func) == "enumerate" and iterable.args:
                # `for i, layer in enumerate(self.layers)`: the second name is an element.
                return [(names[0], False), *self._loop_targets(iterable.args[0].value, elements[1], containers)]
        return [(name, False) for name in names]

    def _container_attributes(self, flow: FunctionFlow) -> set[str]:
        """`self.x` attributes the class assigns an `nn.ModuleList` / `nn.Sequential`."""
        if flow.owner is None:
            return set()
        found: set[str] = set()
        for method in methods_of(self.ctx, flow.owner).values():
            for event in method.events:
                if (
                    isinstance(event, AssignEvent)
                    and isinstance(event.value, cst.Call)
                    and self.ctx.qualified_name(event.value.func) in _MODULE_CONTAINERS
                ):
                    found.update(t for t in event.targets if t.startswith("self."))
        return found
