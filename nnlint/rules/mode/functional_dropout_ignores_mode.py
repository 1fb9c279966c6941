from __future__ import annotations

import libcst as cst

from nnlint.flow import NO_GRAD_CONTEXTS

from nnlint.names import dotted_name
from nnlint.patterns import keyword, keyword_appended
from nnlint.rule import Invalid, NodeFix, Rule

# Functional dropouts and the default of their `training` argument (its position is the third).
_DROPOUTS = {
    "torch.nn.functional.dropout": True,
    "torch.nn.functional.dropout1d": True,
    "torch.nn.functional.dropout2d": True,
    "torch.nn.functional.dropout3d": True,
    "torch.nn.functional.alpha_dropout": False,
    "torch.nn.functional.feature_alpha_dropout": False,
}
_TRAINING_POSITION = 2


def _mentions_training(node: cst.BaseExpression, owner: str) -> bool:
    """Whether a condition reads `self.training` (or a local copy named `training`)."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.Attribute, cst.Name)):
            name = dotted_name(current)
            if name in (f"{owner}.training", "training"):
                return True
        if isinstance(current, cst.Attribute):
            stack.append(current.value)
        elif isinstance(current, cst.UnaryOperation):
            stack.append(current.expression)
        elif isinstance(current, cst.BooleanOperation):
            stack.extend((current.left, current.right))
        elif isinstance(current, cst.Comparison):
            stack.append(current.left)
            stack.extend(target.comparator for target in current.comparisons)
        elif isinstance(current, cst.Call):
            stack.extend(arg.value for arg in current.args)
    return False


class FunctionalDropoutIgnoresMode(Rule):
    code = "NN202"
    name = "functional-dropout-ignores-mode"
    summary = "`F.dropout` in a Module method ignores the module's train/eval mode"
    what = (
        "Flags `F.dropout(...)`, `F.dropout1d/2d/3d(...)`, `F.alpha_dropout(...)` and "
        "`F.feature_alpha_dropout(...)` called in a method of an `nn.Module` subclass without a "
        "`training=` argument, unless the call sits under `if self.training:` (or a conditional "
        "expression on it)."
    )
    why = (
        "The functional form does not know the module's mode: `F.dropout` defaults to "
        "`training=True`, so it keeps dropping activations after `model.eval()` and makes "
        "evaluation noisy and wrong; `F.alpha_dropout` and `F.feature_alpha_dropout` default to "
        "`training=False`, so they never drop anything, not even in training. `nn.Dropout` "
        "follows `model.train()` / `model.eval()`; the functional form must be told."
    )
    use_instead = (
        "class Net(nn.Module):\n    def forward(self, x):\n"
        "        return F.dropout(x, p=0.5, training=self.training)\n"
    )
    fix_safety = (
        "Safe: `training=self.training` makes the call follow `model.train()` / `model.eval()`, "
        "which is what dropout inside a module is for."
    )
    fix_availability = "safe"
    triggers = ("dropout",)  # every function it knows is named `*dropout*`
    VALID = [
        # Noise dropout in a sampler that only runs without gradients (in eval mode): deliberate.
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\nclass Diffusion(nn.Module):\n    @torch.no_grad()\n    def p_sample(self, x, noise_dropout=0.0):\n        noise = torch.randn_like(x)\n        if noise_dropout > 0.0:\n            noise = F.dropout(noise, p=noise_dropout)\n        return x + noise\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, p=0.5, training=self.training)\n",
        # An explicit training=True is a deliberate choice (Monte-Carlo dropout).
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass MCDropoutNet(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, 0.2, training=True)\n",
        # Passed positionally.
        "import torch.nn as nn\nfrom torch.nn import functional as F\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return F.dropout2d(x, self.p, self.training)\n",
        # Under `if self.training:` the default is right.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def forward(self, x):\n        if self.training and self.p > 0:\n            x = F.dropout(x, self.p)\n        return x\n",
        # The conditional-expression form.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, self.p) if self.training else x\n",
        # Not a Module: a plain function decides for itself.
        "import torch.nn.functional as F\n\ndef augment(x, p):\n    return F.dropout(x, p)\n",
        # `**kwargs` may carry `training`.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def forward(self, x, **kwargs):\n        return F.dropout(x, **kwargs)\n",
        # Another library's `dropout` function.
        "import torch.nn as nn\nfrom mylib import dropout\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return dropout(x, 0.1)\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 8)\n\n    def forward(self, x):\n        x = F.relu(self.fc(x))\n        x = F.dropout(x, p=0.5)  # error\n        return x\n",
            fixed="import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 8)\n\n    def forward(self, x):\n        x = F.relu(self.fc(x))\n        x = F.dropout(x, p=0.5, training=self.training)  # error\n        return x\n",
        ),
        # alpha_dropout defaults to training=False: it never drops.
        Invalid(
            "import torch\nfrom torch import nn\n\nclass SelfNormalizing(nn.Module):\n    def forward(self, x):\n        return torch.nn.functional.alpha_dropout(torch.selu(x), 0.1)  # error\n",
            fixed="import torch\nfrom torch import nn\n\nclass SelfNormalizing(nn.Module):\n    def forward(self, x):\n        return torch.nn.functional.alpha_dropout(torch.selu(x), 0.1, training=self.training)  # error\n",
        ),
        # Multi-line call with a trailing comma, in a helper method of the module.
        Invalid(
            "import torch.nn as nn\nfrom torch.nn.functional import dropout2d\n\nclass Block(nn.Module):\n    def _drop(self, x):\n        return dropout2d(  # error\n            x,\n            p=0.1,\n        )\n",
            fixed="import torch.nn as nn\nfrom torch.nn.functional import dropout2d\n\nclass Block(nn.Module):\n    def _drop(self, x):\n        return dropout2d(  # error\n            x,\n            p=0.1, training=self.training,\n        )\n",
        ),
        # Inside a comprehension in forward.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def forward(self, x):\n        outputs = [F.dropout(x, 0.1) for _ in range(3)]  # error\n        return outputs\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._guards: list[cst.IfExp] = []  # enclosing `a if self.training else b`

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._guards.append(node)

    def leave_IfExp(self, node: cst.IfExp) -> None:
        self._guards.pop()

    def visit_Call(self, node: cst.Call) -> None:
        name = self.ctx.qualified_name(node.func)
        if name not in _DROPOUTS:
            return
        if keyword(node, "training") is not None or any(arg.star for arg in node.args):
            return
        if sum(1 for arg in node.args if arg.keyword is None) > _TRAINING_POSITION:
            return
        scopes = self.ctx.method_scopes
        if scopes is None:
            return
        class_node, method = scopes
        info = self.ctx.facts.class_of_node.get(class_node)
        if info is None or not self.ctx.is_module_class(info):
            return
        owner = self._self_name(method)
        if owner is None or self._guarded(owner) or self._inference_only(method):
            return
        short = name.rpartition(".")[2]
        if _DROPOUTS[name]:
            problem = f"`{short}` defaults to `training=True`, so it keeps dropping after `.eval()`"
        else:
            problem = f"`{short}` defaults to `training=False`, so it never drops, not even in training"
        replacement = keyword_appended(self.ctx, node, f"training={owner}.training")
        self.report(
            node,
            f"{problem}; pass `training={owner}.training` so it follows the module's train/eval mode",
            fix=NodeFix(f"pass `training={owner}.training`", "safe", (replacement,)) if replacement else None,
        )

    def _self_name(self, method: cst.FunctionDef) -> str | None:
        """The name of the instance parameter (`self`), None for static and class methods."""
        for decorator in method.decorators:
            if dotted_name(decorator.decorator) in ("staticmethod", "classmethod"):
                return None
        params = (*method.params.posonly_params, *method.params.params)
        return params[0].name.value if params else None

    def _inference_only(self, method: cst.FunctionDef) -> bool:
        """A method decorated with `@torch.no_grad()` / `@torch.inference_mode()` (a sampler):
        it runs in eval mode, so dropout there is deliberate -- `training=self.training` would
        switch it off."""
        for decorator in method.decorators:
            target = decorator.decorator
            target = target.func if isinstance(target, cst.Call) else target
            if self.ctx.qualified_name(target) in NO_GRAD_CONTEXTS:
                return True
        return False

    def _guarded(self, owner: str) -> bool:
        for block in self.ctx.blocks:
            if isinstance(block, cst.If) and _mentions_training(block.test, owner):
                return True
            if isinstance(block, cst.While) and _mentions_training(block.test, owner):
                return True
        return any(_mentions_training(guard.test, owner) for guard in self._guards)
