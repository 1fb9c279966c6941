from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.names import dotted_name
from nnlint.patterns import method_scopes
from nnlint.rule import Rule
from nnlint.semantic import ClassInfo


class ManualTrainingFlag(Rule):
    code = "NN205"
    name = "manual-training-flag"
    summary = "`self.training` set by hand, or a `train()` override that skips `super().train(mode)`"
    what = (
        "In an `nn.Module` subclass, flags assignments to `self.training` and a `train()` method "
        "that never calls the parent's `train` (`super().train(mode)`, `nn.Module.train(self, mode)`)."
    )
    why = (
        "`self.training = False` changes only this module's flag: every submodule -- its dropout "
        "and batch-norm layers -- stays in the old mode. `model.eval()` is implemented as "
        "`self.train(False)`, so a `train()` override that does not call `super().train(mode)` "
        "breaks `eval()` for the whole model; an override with another signature (a training loop "
        "named `train`) is even called with `False` as its first argument."
    )
    use_instead = (
        "class Net(nn.Module):\n    def train(self, mode=True):\n        super().train(mode)\n"
        "        self.backbone.eval()  # keep the frozen backbone in eval mode\n        return self\n"
    )
    fix_safety = "No fix is offered: the override's intent needs a human."
    VALID = [
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def train(self, mode=True):\n        super().train(mode)\n        self.backbone.eval()\n        return self\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def train(self, mode: bool = True):\n        if mode and self.cache:\n            self.cache = {}\n        return super(Net, self).train(mode=mode)\n",
        # Calling a base class's train explicitly.
        "import torch.nn as nn\n\nclass Net(nn.Linear):\n    def train(self, mode=True):\n        nn.Linear.train(self, mode)\n        return self\n",
        # Not a Module: a plain attribute.
        "class Trainer:\n    def __init__(self):\n        self.training = False\n\n    def train(self, loader):\n        self.training = True\n",
        # Reading the flag is fine.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        was_training = self.training\n        return x if was_training else -x\n",
    ]
    INVALID = [
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.body = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))\n        self.training = False  # error\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def freeze(self):\n        self.training = False  # error\n        for p in self.parameters():\n            p.requires_grad_(False)\n",
        # An override that does the work by hand and skips the parent.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def train(self, mode=True):  # error\n        for child in self.children():\n            child.train(mode)\n        return self\n",
        # A training loop named `train` shadows nn.Module.train: `model.eval()` calls it with False.
        "import torch.nn as nn\n\nclass Classifier(nn.Module):\n    def train(self, loader, optimizer, epochs=10):  # error\n        for epoch in range(epochs):\n            for x, y in loader:\n                optimizer.zero_grad()\n                self.loss(self(x), y).backward()\n                optimizer.step()\n",
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value != "train":
            return
        info = self.ctx.method_class
        if info is None or not self.ctx.is_module_class(info) or _is_property_or_static(node):
            return
        if _calls_parent_train(node, info):
            return
        self.report(
            node.name,
            f"`{info.name}.train()` overrides `nn.Module.train(mode)` but never calls "
            f"`super().train(mode)`: `model.eval()` calls `self.train(False)`, so submodules are "
            f"never switched; call `super().train(mode)` in it (or rename it if it is a training loop)",
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check(node.target)

    def _check(self, target: cst.BaseExpression) -> None:
        scopes = method_scopes(self.ctx)
        if scopes is None:
            return
        class_node, method = scopes
        info = self.ctx.facts.class_of_node.get(class_node)
        if info is None or not self.ctx.is_module_class(info):
            return
        params = (*method.params.posonly_params, *method.params.params)
        if not params or dotted_name(target) != f"{params[0].name.value}.training":
            return
        if method.name.value == "train" and not _calls_parent_train(method, info):
            return  # the override itself is reported once
        owner = params[0].name.value
        self.report(
            target,
            f"`{owner}.training = ...` switches only `{info.name}` itself; its submodules (dropout, "
            f"batch norm) keep their mode; call `{owner}.train(...)` / `{owner}.eval()` instead",
        )


def _is_property_or_static(node: cst.FunctionDef) -> bool:
    names = {dotted_name(d.decorator) for d in node.decorators}
    return bool(names & {"property", "staticmethod", "classmethod"})


def _calls_parent_train(method: cst.FunctionDef, info: ClassInfo) -> bool:
    """`super().train(...)`, `super(C, self).train(...)` or `Base.train(self, ...)` in ``method``."""
    found = False

    def enter(node: cst.CSTNode) -> bool:
        nonlocal found
        if found:
            return False
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "train":
            receiver = node.func.value
            if isinstance(receiver, cst.Call) and dotted_name(receiver.func) == "super":
                found = True
            elif dotted_name(receiver) is not None and node.args:
                # `nn.Module.train(self, mode)`: an unbound call on a class, not on an instance.
                first = dotted_name(node.args[0].value)
                params = (*method.params.posonly_params, *method.params.params)
                found = bool(params) and first == params[0].name.value and dotted_name(receiver) != first
        return not found

    walker.walk(method.body, enter)
    return found
