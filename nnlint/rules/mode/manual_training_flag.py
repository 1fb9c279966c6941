from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.names import dotted_name
from nnlint.rule import Rule


class ManualTrainingFlag(Rule):
    code = "NN205"
    name = "manual-training-flag"
    summary = "`self.training` set by hand, or a `train()` override that skips `super().train(mode)`"
    what = (
        "In an `nn.Module` subclass, flags assignments to `self.training` and a `train()` method "
        "that never calls the parent's `train` (`super().train(mode)`, `nn.Module.train(self, mode)`). "
        "Stays silent on copies of another module's flag (`self.training = wrapped.training`), on "
        "`__setstate__` restoring pickled state, on a `train()` that reimplements the parent "
        "completely (sets `self.training = mode` and calls `.train(mode)` on children, e.g. to keep "
        "a frozen batch norm in eval mode), and on classes that override `eval()` too (proxies that "
        "manage mode themselves)."
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
    triggers = ("train",)  # `self.training = ...` and `def train`
    VALID = [
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def train(self, mode=True):\n        super().train(mode)\n        self.backbone.eval()\n        return self\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def train(self, mode: bool = True):\n        if mode and self.cache:\n            self.cache = {}\n        return super(Net, self).train(mode=mode)\n",
        # Calling a base class's train explicitly.
        "import torch.nn as nn\n\nclass Net(nn.Linear):\n    def train(self, mode=True):\n        nn.Linear.train(self, mode)\n        return self\n",
        # Not a Module: a plain attribute.
        "class Trainer:\n    def __init__(self):\n        self.training = False\n\n    def train(self, loader):\n        self.training = True\n",
        # A wrapper mirrors the flag of the module it wraps (whose mode is already right).
        "import torch.nn as nn\n\nclass Wrapper(nn.Module):\n    def __init__(self, mod):\n        super().__init__()\n        self.mod = mod\n        self.training = mod.training\n",
        # Restoring pickled state.
        "import torch.nn as nn\n\nclass Leaf(nn.Module):\n    def __setstate__(self, state):\n        self.weight = state[0]\n        self.training = state[1]\n",
        # A complete reimplementation that keeps a frozen batch norm in eval mode.
        "import torch.nn as nn\n\nclass LinearBn(nn.Module):\n    def train(self, mode=True):\n        self.training = mode\n        if not self.freeze_bn:\n            for module in self.children():\n                module.train(mode)\n        return self\n",
        # A proxy that forwards both mode switches elsewhere.
        "import torch.nn as nn\n\nclass RemoteProxy(nn.Module):\n    def train(self, mode=True):\n        return self.remote.train(mode)\n\n    def eval(self):\n        return self.remote.eval()\n",
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
        if "eval" in info.methods or _calls_parent_train(node):
            return
        sets_flag, recurses = _train_work(node)
        if sets_flag and recurses:
            return  # a complete reimplementation of the parent
        if recurses:
            consequence = "`self.training` never changes, so code reading it sees the wrong mode"
        else:
            consequence = "`model.eval()` calls `self.train(False)`, so submodules are never switched"
        self.report(
            node.name,
            f"`{info.name}.train()` overrides `nn.Module.train(mode)` but never calls "
            f"`super().train(mode)`: {consequence}; call `super().train(mode)` in it (or rename it "
            f"if it is a training loop)",
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check(node.target, node.value)

    def _check(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        scopes = self.ctx.method_scopes
        if scopes is None:
            return
        class_node, method = scopes
        info = self.ctx.facts.class_of_node.get(class_node)
        if info is None or not self.ctx.is_module_class(info):
            return
        params = (*method.params.posonly_params, *method.params.params)
        if not params or dotted_name(target) != f"{params[0].name.value}.training":
            return
        if method.name.value == "__setstate__" or (method.name.value == "train" and not _calls_parent_train(method)):
            return  # restoring state; or part of an override that is reported (or exempt) as a whole
        if isinstance(value, cst.Attribute) and value.attr.value == "training":
            return  # mirrors another module's flag
        owner = params[0].name.value
        self.report(
            target,
            f"`{owner}.training = ...` switches only `{info.name}` itself; its submodules (dropout, "
            f"batch norm) keep their mode; call `{owner}.train(...)` / `{owner}.eval()` instead",
        )


def _is_property_or_static(node: cst.FunctionDef) -> bool:
    names = {dotted_name(d.decorator) for d in node.decorators}
    return bool(names & {"property", "staticmethod", "classmethod"})


def _calls_parent_train(method: cst.FunctionDef) -> bool:
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


def _train_work(method: cst.FunctionDef) -> tuple[bool, bool]:
    """Whether a `train(self, mode)` override does the parent's two jobs itself: setting
    `self.training = mode`, and calling `.train(mode)` on other modules."""
    params = [p.name.value for p in (*method.params.posonly_params, *method.params.params)]
    if len(params) < 2:
        return False, False
    owner, mode = params[0], params[1]
    sets_flag = recurses = False
    for node in walker.iter_nodes(method.body):
        if isinstance(node, cst.Assign) and dotted_name(node.value) == mode:
            sets_flag = sets_flag or any(dotted_name(t.target) == f"{owner}.training" for t in node.targets)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "train":
            recurses = recurses or any(dotted_name(arg.value) == mode for arg in node.args)
    return sets_flag, recurses
