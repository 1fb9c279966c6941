from __future__ import annotations

import re

import libcst as cst

from nnlint.patterns import edit_distance
from nnlint.rule import Invalid, NodeFix, Rule

# Values a freeze / unfreeze flag takes; a list or dict under a similar name is something else.
_FLAG_VALUES = (cst.Name, cst.Attribute, cst.UnaryOperation, cst.Comparison, cst.BooleanOperation, cst.Subscript)


def near_miss_of_requires_grad(name: str) -> bool:
    """``require_grad``, ``requires_grads``, ``required_grad``, ``requries_grad``... but not
    ``_requires_grad`` (a class's private copy of the flag)."""
    return (
        name != "requires_grad"
        and not name.startswith("_")
        and name[:2].lower() == "re"
        and "g" in name.lower()
        and edit_distance(name, "requires_grad") <= 2
    )


class RequiresGradTypo(Rule):
    code = "NN109"
    name = "requires-grad-typo"
    summary = "`.require_grad = False` / `requires_grads=` -- a misspelt `requires_grad` freezes nothing"
    what = (
        "Flags an assignment to an attribute whose name is a near miss of `requires_grad` "
        "(`p.require_grad = False`, `.requires_grads`, `.required_grad`, `.requries_grad`), and the "
        "same misspelling as a keyword argument of a `torch` call (`torch.zeros(3, "
        "require_grad=True)`). An attribute name the file also reads or passes around is taken to "
        "be deliberate and left alone."
    )
    why = (
        "Python lets you set any attribute on a tensor: `p.require_grad = False` adds a new, "
        "meaningless attribute and the parameter keeps training. Freezing silently does nothing, "
        "and the only symptom is a model that fine-tunes layers it should not (and uses more "
        "memory doing it)."
    )
    use_instead = "for p in model.backbone.parameters():\n    p.requires_grad = False\n"
    fix_safety = "Safe: the name is corrected to `requires_grad`, which is what the code meant to set."
    fix_availability = "safe"
    VALID = [
        "for p in model.parameters():\n    p.requires_grad = False\n",
        "import torch\n\nx = torch.zeros(3, requires_grad=True)\n",
        # A deliberately named flag that the file reads back.
        "class Config:\n    def __init__(self, require_grad):\n        self.require_grad = require_grad\n\n    def freeze(self, p):\n        p.requires_grad = self.require_grad\n",
        # A class's private copy, and a list under a plural name.
        "class Wrapper:\n    def __init__(self, params):\n        self._requires_grad = True\n        self.requires_grads = [p.requires_grad for p in params]\n",
        # Keywords of functions nnlint cannot see, and torch's private spelling.
        "import torch\n\nbuild(require_grad=False)\nt = torch.Tensor._make_subclass(cls, data, require_grad=True)\n",
    ]
    INVALID = [
        Invalid(
            "def freeze(model):\n    for p in model.backbone.parameters():\n        p.require_grad = False  # error\n",
            fixed="def freeze(model):\n    for p in model.backbone.parameters():\n        p.requires_grad = False  # error\n",
        ),
        Invalid(
            "import torch\nfrom torch import nn\n\nw = nn.Parameter(torch.zeros(3), requires_grads=False)  # error\nx = torch.randn(2, required_grad=True)  # error\n",
            fixed="import torch\nfrom torch import nn\n\nw = nn.Parameter(torch.zeros(3), requires_grad=False)  # error\nx = torch.randn(2, requires_grad=True)  # error\n",
        ),
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n        self.fc.weight.requries_grad = False  # error\n        self.fc.bias.requires_gard = False  # error\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._targets: list[tuple[cst.CSTNode, cst.Attribute]] = []
        self._keywords: dict[str, int] = {}  # misspelt keywords reported, by name

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._target(node, target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._target(node, node.target, node.value)

    def _target(self, statement: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if (
            isinstance(target, cst.Attribute)
            and near_miss_of_requires_grad(target.attr.value)
            and isinstance(value, _FLAG_VALUES)
        ):
            self._targets.append((statement, target))

    def visit_Call(self, node: cst.Call) -> None:
        name = self.ctx.qualified_name(node.func)
        # Private torch APIs spell things their own way (`Tensor._make_subclass(require_grad=)`).
        if name is None or not name.startswith("torch.") or "._" in name:
            return
        for arg in node.args:
            if arg.keyword is not None and near_miss_of_requires_grad(arg.keyword.value):
                self._keywords[arg.keyword.value] = self._keywords.get(arg.keyword.value, 0) + 1
                self.report(
                    arg,
                    f"`{arg.keyword.value}=` is a misspelt `requires_grad=`: "
                    f"`{name.rpartition('.')[2]}` does not take it; write `requires_grad=`",
                    NodeFix(f"rename `{arg.keyword.value}` to `requires_grad`", "safe", ((arg.keyword, "requires_grad"),)),
                )

    def leave_Module(self, node: cst.Module) -> None:
        counts = dict(self._keywords)
        for _, target in self._targets:
            counts[target.attr.value] = counts.get(target.attr.value, 0) + 1
        for statement, target in self._targets:
            attr = target.attr.value
            if len(re.findall(rf"\b{re.escape(attr)}\b", self.ctx.source)) > counts[attr]:
                continue  # the file reads or passes the name too: a deliberate attribute
            owner = self.ctx.module.code_for_node(target.value)
            self.report(
                statement,
                f"`{owner}.{attr}` is a misspelt `requires_grad`: it sets a new attribute and "
                f"freezes nothing; write `{owner}.requires_grad`",
                NodeFix(f"rename `{attr}` to `requires_grad`", "safe", ((target.attr, "requires_grad"),)),
            )
