from __future__ import annotations

import re

import libcst as cst

from nnlint.patterns import edit_distance
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.semantic import ClassInfo

# Real words within two edits of "forward".
_WORDS = frozenset({"toward", "onward", "coward", "foreword", "forwarded"})


def near_miss_of_forward(name: str) -> bool:
    """``foward``, ``forwad``, ``Forward``, ``forwards``... but not ``_forward`` / ``forward_``
    (deliberate hooks), ``format`` or ``toward``."""
    if name == "forward" or name.startswith("_") or name.endswith("_") or name.lower() in _WORDS:
        return False
    distance = edit_distance(name, "forward")
    return distance == 1 or (distance == 2 and name[:1].lower() == "f" and len(name) >= 6)


def _assigns_forward(node: cst.ClassDef) -> bool:
    """``forward = other_method`` in the class body."""
    for statement in node.body.body:  # type: ignore[union-attr]
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                targets = small.targets if isinstance(small, cst.Assign) else ()
                if any(isinstance(t.target, cst.Name) and t.target.value == "forward" for t in targets):
                    return True
    return False


class ForwardNameTypo(Rule):
    code = "NN108"
    name = "forward-name-typo"
    summary = "a Module defines `foward` / `forwad` / ... but no `forward`"
    what = (
        "Flags a method of an `nn.Module` subclass whose name is one or two keystrokes away from "
        "`forward` (`foward`, `forwad`, `farward`, `Forward`, `forwards`) when the class defines no "
        "`forward` itself. Names with a leading or trailing underscore (`_forward`, deliberate "
        "hooks), real words (`toward`), names a base class in the file also defines, and names the "
        "file uses elsewhere (the code calls it on purpose) are left alone."
    )
    why = (
        "`model(x)` calls `forward`. With the name misspelt, it runs the inherited one instead: "
        "`nn.Module.forward` raises `NotImplementedError: Module [Net] is missing the required "
        "\"forward\" function`, and a subclass of a layer (`nn.Linear`) silently keeps the parent's "
        "computation."
    )
    use_instead = (
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return x * 2\n"
    )
    fix_safety = "Safe: the method is renamed to `forward`; the fix is offered only when nothing else in the file uses the old name."
    fix_availability = "safe"
    VALID = [
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return self._forward(x)\n\n    def _forward(self, x):\n        return x\n",
        # Abstract bases that define neither.
        "import torch.nn as nn\n\nclass Base(nn.Module):\n    def extra_repr(self):\n        return ''\n",
        # Hooks, other names, other classes.
        "import torch.nn as nn\n\nclass Base(nn.Module):\n    def forward(self, x):\n        return self.forward_(x)\n\nclass Impl(Base):\n    def forward_(self, x):\n        return x\n\n    def format(self):\n        return 'impl'\n\n    def forward_features(self, x):\n        return x\n",
        "class Agent:\n    def foward(self, steps):\n        return steps\n",
        # Called explicitly by that name: deliberate.
        "import torch.nn as nn\n\nclass Mover(nn.Module):\n    def forwards(self, x):\n        return x\n\ndef run(m, x):\n    return m.forwards(x)\n",
        # forward assigned in the class body.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forwad(self, x):\n        return x\n\n    forward = forwad\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n\n    def foward(self, x):  # error\n        return self.fc(x)\n",
            fixed="import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n\n    def forward(self, x):  # error\n        return self.fc(x)\n",
        ),
        Invalid(
            "from torch.nn import Module as M\n\nclass Base(M):\n    pass\n\nclass Net(Base):\n    def Forward(self, x):  # error\n        return x\n",
            fixed="from torch.nn import Module as M\n\nclass Base(M):\n    pass\n\nclass Net(Base):\n    def forward(self, x):  # error\n        return x\n",
        ),
        "from torch import nn\n\nclass Scaled(nn.Linear):\n    def farward(self, x):  # error\n        return super().forward(x) * 2\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forwrad(self, x):  # error\n        return x\n",
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        info = self.ctx.facts.class_of_node.get(node)
        if info is None or "forward" in info.methods or "__call__" in info.methods:
            return
        candidates = [name for name in info.methods if near_miss_of_forward(name)]
        if not candidates or _assigns_forward(node) or not self.ctx.is_module_class(info):
            return
        inherited = self._ancestor_methods(info)
        for name in candidates:
            if name in inherited:
                continue  # overrides a method a base class defines on purpose
            if len(re.findall(rf"\b{re.escape(name)}\b", self.ctx.source)) > 1:
                continue  # the file calls it by that name: deliberate, and a rename would break it
            method = info.methods[name]
            fix = NodeFix(f"rename `{name}` to `forward`", "safe", ((method.name, "forward"),))
            self.report(
                method.name,
                f"`{info.name}.{name}` looks like a misspelt `forward`, and `{info.name}` defines no "
                f"`forward`: `model(x)` will not call it; rename it to `forward`",
                fix,
            )

    def _ancestor_methods(self, info: ClassInfo) -> set[str]:
        """Method names defined by the ancestors of ``info`` that this file defines."""
        names: set[str] = set()
        queue, seen = list(info.bases), set()
        while queue:
            base = queue.pop()
            local = self.ctx.facts.top_level_classes.get(base.rpartition(".")[2])
            if base in seen or local is None or local.qualname != base:
                continue
            seen.add(base)
            names.update(local.methods)
            queue.extend(local.bases)
        return names
