from __future__ import annotations

import libcst as cst

from nnlint.names import dotted_name
from nnlint.rule import Invalid, NodeFix, Rule

# Methods whose whole point is their side effect: mentioning them without calling does nothing.
_SIDE_EFFECT_METHODS = frozenset({"eval", "train", "zero_grad", "backward", "step"})
_SAVE_CALLS = frozenset({"torch.save"})


class ModeMethodNotCalled(Rule):
    code = "NN204"
    tags = frozenset({"unnecessary"})
    name = "mode-method-not-called"
    summary = "`model.eval` / `optimizer.step` / `loss.backward` written without `()` does nothing"
    what = (
        "Flags a statement that only names `x.eval`, `x.train`, `x.zero_grad`, `x.backward` or "
        "`x.step` without calling it, and `torch.save(x.state_dict, ...)` that saves the bound "
        "method instead of the state dict."
    )
    why = (
        "Naming a method evaluates to the bound method object and throws it away: the model stays "
        "in training mode, gradients are never cleared or computed, the optimizer never steps -- "
        "and Python raises no error. `torch.save(model.state_dict, path)` pickles a bound method, "
        "which drags the whole model along and cannot be loaded with `weights_only=True`."
    )
    use_instead = "model.eval()\noptimizer.zero_grad()\nloss.backward()\noptimizer.step()\n"
    fix_safety = "Safe: adding `()` performs the call the statement was written for."
    fix_availability = "safe"
    triggers = ("eval", "train", "zero_grad", "backward", "step", "state_dict")
    VALID = [
        "def fit(model, optimizer, loss):\n    model.train()\n    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n    model.eval()\n",
        # The method object used as a value is fine.
        "def register(model, hooks):\n    hooks.append(model.eval)\n    callback = optimizer.step\n",
        "import torch\n\ndef save(model, path):\n    torch.save(model.state_dict(), path)\n",
        # Other attributes as statements are not this rule's business.
        "def touch(model):\n    model.training\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\ndef evaluate(model, x):\n    model.eval  # error\n    with torch.no_grad():\n        return model(x)\n",
            fixed="import torch\n\ndef evaluate(model, x):\n    model.eval()  # error\n    with torch.no_grad():\n        return model(x)\n",
        ),
        Invalid(
            "class Trainer:\n    def step(self, batch):\n        self.optimizer.zero_grad  # error\n        loss = self.model(batch)\n        loss.backward()\n        self.optimizer.step  # error\n        self.scheduler.step()\n",
            fixed="class Trainer:\n    def step(self, batch):\n        self.optimizer.zero_grad()  # error\n        loss = self.model(batch)\n        loss.backward()\n        self.optimizer.step()  # error\n        self.scheduler.step()\n",
        ),
        Invalid(
            "def fit(model, loader, opt_g, opt_d):\n    for i, (x, y) in enumerate(loader):\n        loss = model(x, y)\n        loss.backward  # error\n        opt_g.step(); opt_d.step  # error\n",
            fixed="def fit(model, loader, opt_g, opt_d):\n    for i, (x, y) in enumerate(loader):\n        loss = model(x, y)\n        loss.backward()  # error\n        opt_g.step(); opt_d.step()  # error\n",
        ),
        Invalid(
            "import torch\n\ndef save(model, path):\n    torch.save(model.state_dict, path)  # error\n",
            fixed="import torch\n\ndef save(model, path):\n    torch.save(model.state_dict(), path)  # error\n",
        ),
    ]

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not (isinstance(value, cst.Attribute) and value.attr.value in _SIDE_EFFECT_METHODS):
            return
        written = dotted_name(value) or f"{self.ctx.module.code_for_node(value.value)}.{value.attr.value}"
        self.report(
            value,
            f"`{written}` names the method without calling it, so nothing happens; write `{written}()`",
            fix=_call_fix(self.ctx.module, value),
        )

    def visit_Call(self, node: cst.Call) -> None:
        if not node.args or self.ctx.qualified_name(node.func) not in _SAVE_CALLS:
            return
        saved = node.args[0].value
        if not (isinstance(saved, cst.Attribute) and saved.attr.value == "state_dict"):
            return
        written = dotted_name(saved) or "state_dict"
        self.report(
            saved,
            f"`torch.save({written}, ...)` saves the bound method, not the weights (it pickles the "
            f"whole model); write `{written}()`",
            fix=_call_fix(self.ctx.module, saved),
        )


def _call_fix(module: cst.Module, attribute: cst.Attribute) -> NodeFix:
    # The node's range excludes its own parentheses, so its text must too.
    bare = module.code_for_node(attribute.with_changes(lpar=(), rpar=()))
    return NodeFix(f"call `{bare}()`", "safe", ((attribute, f"{bare}()"),))
