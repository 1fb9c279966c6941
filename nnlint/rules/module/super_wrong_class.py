from __future__ import annotations

import libcst as cst

from nnlint.names import dotted_name
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.semantic import ClassInfo


class SuperWrongClass(Rule):
    code = "NN101"
    name = "super-wrong-class"
    triggers = ("super",)  # only calls of `super` are examined
    summary = "`super(Other, self)` names a class that is not the enclosing class or one of its bases"
    what = (
        "Flags `super(Other, self)` inside a method of class `C` when `Other` is neither `C` nor one "
        "of its ancestors, and `super.__init__()` written without calling `super`."
    )
    why = (
        "The two-argument form is usually copied from another class. `super(Other, self)` raises "
        "`TypeError: super(type, obj): obj must be an instance or subtype of type` when `C` does not "
        "derive from `Other`; when it does through another path, it silently skips `__init__` methods "
        "in the MRO, so submodules are never set up. `super.__init__()` calls the `__init__` of the "
        "builtin `super` type and initialises nothing, so `nn.Module.__init__` never runs."
    )
    use_instead = "class Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    fix_safety = (
        "Safe: the zero-argument `super()` means the enclosing class, which is what a correct "
        "two-argument call would have named."
    )
    fix_availability = "safe"
    VALID = [
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super(Model, self).__init__()\n",
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n",
        # A deliberate skip of the direct parent's __init__: Base is one of Model's bases.
        "import torch.nn as nn\n\nclass Base(nn.Module):\n    pass\n\nclass Mid(Base):\n    pass\n\nclass Model(Mid):\n    def __init__(self):\n        super(Base, self).__init__()\n",
        # An unknown base may derive from Other: nnlint cannot see it and stays silent.
        "from somewhere import Unknown\n\nclass Model(Unknown):\n    def __init__(self):\n        super(Other, self).__init__()\n",
        "class Model:\n    def __init__(self):\n        super(type(self), self).__init__()\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super(CNN, self).__init__()  # error\n",
            fixed="import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()  # error\n",
        ),
        "import torch.nn as nn\n\nclass CNN(nn.Module):\n    pass\n\nclass Model(nn.Module):\n    def forward(self, x):\n        return super(CNN, self).forward(x)  # error\n",
        Invalid(
            "from torch import nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super.__init__()  # error\n",
            fixed="from torch import nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()  # error\n",
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "super":
            if self.ctx.enclosing_function is not None and func.attr.value == "__init__":
                self.report(
                    node,
                    "`super.__init__()` calls the builtin `super` type's __init__ and initialises "
                    "nothing; write `super().__init__()`",
                    fix=NodeFix("call `super()`", "safe", ((func.value, "super()"),)),
                )
            return
        if not (isinstance(func, cst.Name) and func.value == "super" and len(node.args) == 2):
            return
        named = dotted_name(node.args[0].value)
        info = self.ctx.enclosing_class
        if named is None or info is None or self.ctx.enclosing_function is None:
            return
        if named == info.name or self._may_be_ancestor(info, named):
            return
        self.report(
            node,
            f"`super({named}, self)` in class `{info.name}` names `{named}`, which is not "
            f"`{info.name}` or one of its bases; use `super()` (or `super({info.name}, self)`)",
            fix=NodeFix(f"replace `super({named}, self)` with `super()`", "safe", ((node, "super()"),)),
        )

    def _may_be_ancestor(self, info: ClassInfo, named: str) -> bool:
        """True unless every ancestor of ``info`` is known and none of them is ``named``."""
        target = self.ctx.facts.resolve(named)
        target_last = named.rpartition(".")[2]
        queue = list(info.bases)
        seen: set[str] = set()
        while queue:
            base = queue.pop()
            if base in seen:
                continue
            seen.add(base)
            if base == target or base.rpartition(".")[2] == target_last:
                return True
            if base.startswith("torch."):
                # torch classes only derive from torch classes.
                if target.startswith("torch."):
                    return True
                continue
            if base in ("object", "builtins.object"):
                continue
            local = self.ctx.facts.top_level_classes.get(base.rpartition(".")[2])
            if local is not None and local.qualname == base:
                queue.extend(local.bases)
                continue
            return True  # an ancestor nnlint cannot see
        return False
