from __future__ import annotations

import libcst as cst

from nnlint.names import dotted_name
from nnlint.patterns import module_class_call, self_attribute, strip_chain
from nnlint.rule import Invalid, NodeFix, Rule

# Module methods that return the module itself, so `Net().to(device)` is still the module.
_RETURNS_SELF = frozenset("to cuda cpu float double half bfloat16 train eval requires_grad_ type".split())
# Iterating these yields modules (the `named_` ones yield (name, module) pairs).
_MODULE_ITERATORS = frozenset({"modules", "children"})
_NAMED_MODULE_ITERATORS = frozenset({"named_modules", "named_children"})

Scope = cst.FunctionDef | None  # None: module level
_NOT_A_MODULE = ""  # store kind for anything but a module (or None)


class ModuleRequiresGradAttribute(Rule):
    code = "NN110"
    name = "module-requires-grad-attribute"
    summary = "`module.requires_grad = False` sets a plain attribute on a Module and freezes nothing"
    triggers = ("requires_grad",)  # it reports only assignments to `<x>.requires_grad`
    what = (
        "Flags `x.requires_grad = ...` when `x` is known to be an `nn.Module`: `self` in a Module's "
        "method, `self.encoder` when the class only ever assigns it a Module, a variable assigned a "
        "Module constructor (`model = Net()`), `model.encoder` when `Net` assigns `self.encoder` a "
        "Module, the loop variable of `for m in model.modules()` / `.children()`, and parameters "
        "annotated with a Module class. Tensors, Parameters and receivers of unknown type are left "
        "alone, as is a receiver whose `.requires_grad` the file reads back (a deliberate flag)."
    )
    why = (
        "`requires_grad` is a tensor attribute. On a Module, `m.requires_grad = False` just stores "
        "a new Python attribute: every parameter keeps `requires_grad=True`, the 'frozen' layers "
        "keep training, and memory use stays as high as before."
    )
    use_instead = "model.encoder.requires_grad_(False)\n"
    fix_safety = (
        "Safe: `m.requires_grad_(flag)` sets the flag on every parameter of the module, which is "
        "what the assignment was meant to do."
    )
    fix_availability = "safe"
    VALID = [
        "import torch.nn as nn\n\nmodel = nn.Linear(2, 2)\nmodel.weight.requires_grad = False\nfor p in model.parameters():\n    p.requires_grad = False\nmodel.requires_grad_(False)\n",
        # Parameters and tensors on self.
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.scale = nn.Parameter(torch.ones(1))\n        self.scale.requires_grad = False\n",
        # Receivers of unknown type.
        "def freeze(model):\n    model.encoder.requires_grad = False\n    model.requires_grad = False\n",
        # A flag the module reads back on purpose.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, train_all):\n        super().__init__()\n        self.requires_grad = train_all\n\n    def forward(self, x):\n        return x if self.requires_grad else x.detach()\n",
        # Not a Module class.
        "class Tracker:\n    def __init__(self):\n        self.requires_grad = False\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = nn.LSTM(8, 8)\n        self.encoder.requires_grad = False  # error\n",
            fixed="import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = nn.LSTM(8, 8)\n        self.encoder.requires_grad_(False)  # error\n",
        ),
        Invalid(
            "from torch import nn\n\nmodel = nn.Sequential(nn.Linear(2, 2)).cuda()\nmodel.requires_grad = False  # error\nfor name, child in model.named_children():\n    child.requires_grad = True  # error\n",
            fixed="from torch import nn\n\nmodel = nn.Sequential(nn.Linear(2, 2)).cuda()\nmodel.requires_grad_(False)  # error\nfor name, child in model.named_children():\n    child.requires_grad_(True)  # error\n",
        ),
        # A class of the same file, its child, and a Module-annotated parameter.
        "import torch.nn as nn\nfrom torch.nn import Module as M\n\nclass Backbone(M):\n    pass\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.backbone = Backbone()\n        self.head = nn.Linear(8, 2)\n\n    def freeze(self):\n        self.requires_grad = False  # error\n\ndef train(freeze_backbone: bool, layer: nn.Module):\n    net = Net()\n    net.backbone.requires_grad = not freeze_backbone  # error\n    layer.requires_grad = False  # error\n    for m in net.modules():\n        m.requires_grad = False  # error\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        # class -> attribute -> what `self.<attribute>` is assigned, and (function, local) -> what
        # the local is assigned: a kind (a module class name, "None", or _NOT_A_MODULE) or the
        # assigned expression, judged only when a `.requires_grad =` needs it (most files have none).
        self._attrs: dict[cst.ClassDef, dict[str, list[str | cst.BaseExpression]]] = {}
        self._locals: dict[tuple[Scope, str], list[str | cst.BaseExpression]] = {}
        self._targets: list[tuple[cst.CSTNode, cst.Attribute, cst.BaseExpression, Scope, cst.ClassDef | None, bool]] = []
        self._target_nodes: set[cst.Attribute] = set()
        self._read: set[str] = set()  # receivers whose `.requires_grad` is read

    # -- collecting ------------------------------------------------------------------------

    def _kind(self, value: cst.BaseExpression) -> str:
        if isinstance(value, cst.Name) and value.value == "None":
            return "None"
        if isinstance(value, cst.IfExp):  # `nn.Linear(...) if cond else None`
            kinds = {self._kind(value.body), self._kind(value.orelse)}
            modules = kinds - {"None"}
            return modules.pop() if len(modules) == 1 else _NOT_A_MODULE
        base, _ = strip_chain(value, _RETURNS_SELF)
        return module_class_call(self.ctx, base) or _NOT_A_MODULE

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        for param in (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params):
            if param.annotation is not None:
                name = self.ctx.qualified_name(param.annotation.annotation)
                if name is not None and self.ctx.is_module_class_name(name):
                    self._locals.setdefault((node, param.name.value), []).append(name)

    def visit_For(self, node: cst.For) -> None:
        iterated = node.iter
        if not (isinstance(iterated, cst.Call) and isinstance(iterated.func, cst.Attribute)):
            return
        method = iterated.func.attr.value
        target = node.target
        if method in _NAMED_MODULE_ITERATORS and isinstance(target, cst.Tuple) and len(target.elements) == 2:
            target = target.elements[1].value
        elif method not in _MODULE_ITERATORS:
            return
        if isinstance(target, cst.Name):
            self._locals.setdefault((self.ctx.enclosing_function, target.value), []).append("torch.nn.Module")

    def visit_Assign(self, node: cst.Assign) -> None:
        single = len(node.targets) == 1
        for target in node.targets:
            self._store(node, target.target, node.value, single)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._store(node, node.target, node.value, True)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "requires_grad" and node not in self._target_nodes:
            key = dotted_name(node.value)
            if key is not None:
                self._read.add(key)

    def _store(self, statement: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression, single: bool) -> None:
        function = self.ctx.enclosing_function
        if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad":
            self._target_nodes.add(target)
            owner = self.ctx.method_scopes
            self._targets.append((statement, target, value, function, owner[0] if owner else None, single))
            return
        if isinstance(target, cst.Name):
            self._locals.setdefault((function, target.value), []).append(value)
            return
        attr = self_attribute(target)
        owner = self.ctx.method_scopes
        if attr is not None and owner is not None:
            self._attrs.setdefault(owner[0], {}).setdefault(attr, []).append(value)

    # -- deciding --------------------------------------------------------------------------

    def leave_Module(self, node: cst.Module) -> None:
        for statement, target, value, function, owner, single in self._targets:
            receiver = target.value
            key = dotted_name(receiver)
            if key is None or key in self._read:
                continue
            module = self._module_of(receiver, function, owner)
            if module is None:
                continue
            code = self.ctx.module.code_for_node
            flag = code(value)
            fix = None
            if single and isinstance(statement, cst.Assign):
                fix = NodeFix("call `requires_grad_(...)`", "safe", ((statement, f"{code(receiver)}.requires_grad_({flag})"),))
            self.report(
                statement,
                f"`{key}` is an nn.Module ({module}): `{key}.requires_grad = {flag}` only sets a plain "
                f"attribute and freezes nothing; write `{key}.requires_grad_({flag})`",
                fix,
            )

    def _module_of(self, receiver: cst.BaseExpression, function: Scope, owner: cst.ClassDef | None) -> str | None:
        """A description of the Module class ``receiver`` is known to hold, else None."""
        if isinstance(receiver, cst.Name):
            if receiver.value == "self" and owner is not None:
                info = self.ctx.facts.class_of_node.get(owner)
                if info is not None and self.ctx.is_module_class(info):
                    return f"`{info.name}`"
                return None
            return self._described(self._kinds(self._locals.get((function, receiver.value))))
        attr = self_attribute(receiver)
        if attr is not None and owner is not None:
            return self._described(self._kinds(self._attrs.get(owner, {}).get(attr)))
        # `net.backbone` where `net = Net()` and `Net` assigns `self.backbone` a Module.
        if isinstance(receiver, cst.Attribute) and isinstance(receiver.value, cst.Name):
            kinds = self._kinds(self._locals.get((function, receiver.value.value))) - {"None"}
            if len(kinds) == 1:
                local = self.ctx.facts.classes.get(next(iter(kinds)).rpartition(".")[2])
                if local is not None and local.node is not None and local.qualname == next(iter(kinds)):
                    return self._described(self._kinds(self._attrs.get(local.node, {}).get(receiver.attr.value)))
        return None

    def _kinds(self, assigned: list[str | cst.BaseExpression] | None) -> set[str]:
        return {a if isinstance(a, str) else self._kind(a) for a in assigned or ()}

    @staticmethod
    def _described(kinds: set[str] | None) -> str | None:
        if not kinds or _NOT_A_MODULE in kinds:
            return None
        classes = sorted(kinds - {"None"})
        if not classes:
            return None
        return " / ".join(f"`{c.rpartition('.')[2]}`" for c in classes)
