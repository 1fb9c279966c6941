from __future__ import annotations

import libcst as cst

from typing import TYPE_CHECKING

from nnlint import walker
from nnlint.names import dotted_name
from nnlint.patterns import module_class_call, self_attribute, tensor_factory_call
from nnlint.rule import Rule

if TYPE_CHECKING:
    from nnlint.context import FileContext

_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})


def _is_parent_init_call(node: cst.CSTNode) -> bool:
    """``super().__init__(...)``, ``super(C, self).__init__``, ``Base.__init__(self, ...)``."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
        return False
    if node.func.attr.value != "__init__":
        return False
    receiver = node.func.value
    if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name) and receiver.func.value == "super":
        return True
    # Explicit form: `Base.__init__(self, ...)`, `nn.Module.__init__(self)`.
    if node.args and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "self":
        return True
    # A class's __init__ called without self (transformers' modular templates write
    # `nn.Module.__init__()`): an explicit, deliberate parent call either way.
    name = dotted_name(receiver)
    return name is not None and name.rpartition(".")[2][:1].isupper()


def is_modular_template(ctx: FileContext) -> bool:
    """transformers' `modular_*.py` model definitions are templates that a code generator expands
    (it moves `super().__init__()` to the top); they are not executed as written."""
    name = ctx.path.replace("\\", "/").rpartition("/")[2]
    return name.startswith("modular_") and any(".modeling_" in target for target in ctx.facts.aliases.values())


def _is_stub(body: cst.BaseSuite) -> bool:
    """A body of only docstrings, `...`, `pass` or `raise` (abstract or placeholder __init__)."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        smalls = statement.body if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else None
        if smalls is None:
            return False
        for small in smalls:
            if isinstance(small, (cst.Pass, cst.Raise)):
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, (cst.Ellipsis, cst.SimpleString, cst.ConcatenatedString)):
                continue
            return False
    return True


class MissingSuperInit(Rule):
    code = "NN102"
    name = "missing-super-init"
    triggers = ("__init__",)  # only classes that define `__init__` are examined
    summary = "a Module's `__init__` never calls the parent `__init__`, or registers state before it"
    what = (
        "Flags an `nn.Module` subclass whose `__init__` never calls `super().__init__()` (or an "
        "explicit `Base.__init__(self)`), and assignments of a submodule, `nn.Parameter` or tensor "
        "to `self` that come before that call."
    )
    why = (
        "`nn.Module.__init__` creates the dictionaries that hold parameters, buffers and "
        "submodules. Without it the first `self.fc = nn.Linear(...)` raises `AttributeError: cannot "
        "assign module before Module.__init__() call`; a Parameter assigned early raises the same way; "
        "a module that never initialises fails later in `repr()`, `.to()` or `.modules()`. "
        "transformers' `modular_*.py` templates (expanded by a code generator that reorders "
        "`__init__`) are skipped."
    )
    use_instead = (
        "class Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
    )
    VALID = [
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n",
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self, dim):\n        nn.Module.__init__(self)\n        self.fc = nn.Linear(dim, 2)\n",
        # Plain attributes before the call are fine.
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self, dim):\n        self.dim = dim\n        super().__init__()\n",
        # Inherits __init__ unchanged.
        "import torch.nn as nn\n\nclass Model(nn.Linear):\n    def forward(self, x):\n        return super().forward(x) * 2\n",
        # Not a Module.
        "class Config:\n    def __init__(self):\n        self.lr = 0.1\n",
        # Abstract placeholder.
        "import torch.nn as nn\n\nclass Base(nn.Module):\n    def __init__(self):\n        raise NotImplementedError\n",
        # A library's configuration class is not a Module (nnlint's table of library classes).
        "from transformers import BertConfig\n\nclass MyConfig(BertConfig):\n    def __init__(self):\n        self.hidden = 8\n",
    ]
    INVALID = [
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):  # error\n        self.dim = 4\n",
        "import torch\nfrom torch import nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        self.fc = nn.Linear(4, 2)  # error\n        self.scale = nn.Parameter(torch.ones(1))  # error\n        super().__init__()\n",
        # Cross-class: Head derives from a Module class defined in the same file.
        "import torch.nn as nn\n\nclass Backbone(nn.Module):\n    pass\n\nclass Head(Backbone):\n    def __init__(self):  # error\n        self.out = 2\n",
        # A library model as the base: known without torchvision installed.
        "import torchvision\n\nclass MyNet(torchvision.models.ResNet):\n    def __init__(self):  # error\n        self.out = 2\n",
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        info = self.ctx.facts.class_of_node.get(node)
        if info is None or "__init__" not in info.methods or not self.ctx.is_module_class(info):
            return
        if is_modular_template(self.ctx):
            return
        init = info.methods["__init__"]
        if _is_stub(init.body):
            return
        early: list[tuple[cst.CSTNode, str, str]] = []
        found_call = False

        def enter(inner: cst.CSTNode) -> bool:
            nonlocal found_call
            if found_call:
                return False
            if isinstance(inner, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return False  # nested definitions run later, or never
            if _is_parent_init_call(inner):
                found_call = True
                return False
            if isinstance(inner, (cst.Assign, cst.AnnAssign)):
                targets = [t.target for t in inner.targets] if isinstance(inner, cst.Assign) else [inner.target]
                value = inner.value
                kind = self._registered_kind(value) if value is not None else None
                if kind is not None:
                    for target in targets:
                        attr = self_attribute(target)
                        if attr is not None:
                            early.append((inner, attr, kind))
            return True

        for statement in init.body.body:  # type: ignore[union-attr]
            walker.walk(statement, enter)
        if not found_call:
            self.report(
                init.name,
                f"`{info.name}.__init__` never calls `super().__init__()`: nn.Module's parameter, "
                "buffer and submodule registries are never created; call `super().__init__()` first",
            )
            return
        for statement, attr, kind in early:
            self.report(
                statement,
                f"`self.{attr}` ({kind}) is assigned before `super().__init__()` in "
                f"`{info.name}.__init__`; move `super().__init__()` to the top of `__init__`",
            )

    def _registered_kind(self, value: cst.BaseExpression) -> str | None:
        if module_class_call(self.ctx, value) is not None:
            return "a submodule"
        if isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in _PARAMETER:
            return "an nn.Parameter"
        if tensor_factory_call(self.ctx, value) is not None:
            return "a tensor"
        return None
