from __future__ import annotations

import libcst as cst

from nnlint.patterns import self_attribute, tensor_factory_call
from nnlint.rule import Invalid, NodeFix, Rule

# A class that moves its own tensors handles device placement itself.
_CUSTOM_DEVICE_METHODS = frozenset({"_apply", "to", "cuda"})


class TensorAttributeNotRegistered(Rule):
    code = "NN103"
    name = "tensor-attribute-not-registered"
    triggers = ("torch",)  # every tensor factory it knows is a `torch.` name
    summary = "a plain tensor stored on `self` in a Module's `__init__` (neither buffer nor Parameter)"
    what = (
        "Flags `self.x = torch.randn(...)` -- any torch tensor factory, `torch.tensor`, "
        "`torch.Tensor(...)`, `torch.from_numpy`, optionally followed by `.to()`, `.cuda()`, "
        "`.float()` and the like -- in the `__init__` of an `nn.Module` subclass."
    )
    why = (
        "A plain tensor attribute is invisible to the module: `model.to(device)` and `model.cuda()` "
        "leave it behind (the classic `Expected all tensors to be on the same device`), "
        "`state_dict()` does not save it, and `model.half()` does not convert it."
    )
    use_instead = (
        "class MyModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.register_buffer(\"my_tensor\", torch.randn(1))\n"
    )
    fix_safety = (
        "Unsafe: `self.register_buffer(\"x\", ..., persistent=False)` keeps state_dict keys unchanged, "
        "but code that relied on the tensor staying on the CPU, or on re-assigning it with a "
        "non-tensor, behaves differently."
    )
    fix_availability = "unsafe"
    VALID = [
        "import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.register_buffer('my_buffer', torch.randn(1))\n        self.weight = nn.Parameter(torch.randn(3, 3))\n",
        # Locals in forward are fine.
        "import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def forward(self, x):\n        noise = torch.randn(1)\n        return x + noise\n",
        # Not a Module class.
        "import torch\n\nclass Sampler:\n    def __init__(self):\n        self.state = torch.zeros(3)\n",
        # The class moves its own tensors.
        "import torch\nimport torch.nn as nn\n\nclass Cache(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.keys = torch.zeros(3)\n\n    def _apply(self, fn, recurse=True):\n        self.keys = fn(self.keys)\n        return super()._apply(fn, recurse)\n",
    ]
    INVALID = [
        Invalid(
            "import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def __init__(self):\n        super(MyModel, self).__init__()\n        self.my_tensor = torch.randn(1)  # error\n        self.register_buffer('my_buffer', torch.randn(1))\n",
            fixed="import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def __init__(self):\n        super(MyModel, self).__init__()\n        self.register_buffer('my_tensor', torch.randn(1), persistent=False)  # error\n        self.register_buffer('my_buffer', torch.randn(1))\n",
        ),
        "import torch\nfrom torch import nn\n\nclass PositionalEncoding(nn.Module):\n    def __init__(self, n, device):\n        super().__init__()\n        self.pe = torch.zeros(n, 16).to(device)  # error\n        self.mask: torch.Tensor = torch.ones(n).bool()  # error\n",
        "import numpy as np\nfrom torch import from_numpy\nfrom torch.nn import Module as M\n\nclass Net(M):\n    def __init__(self):\n        super().__init__()\n        self.table = from_numpy(np.eye(3))  # error\n",
    ]

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(node, target.target, node.value, single=len(node.targets) == 1)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check(node, node.target, node.value, single=True)

    def _check(self, statement: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression, single: bool) -> None:
        attr = self_attribute(target)
        if attr is None:
            return
        function = self.ctx.enclosing_function
        if function is None or function.name.value != "__init__":
            return
        info = self.ctx.method_class
        if info is None or not self.ctx.is_module_class(info) or _CUSTOM_DEVICE_METHODS & info.methods.keys():
            return
        factory = tensor_factory_call(self.ctx, value)
        if factory is None:
            return
        short = factory.rpartition(".")[2]
        self.report(
            target,
            f"`self.{attr}` in `{info.name}.__init__` is a plain tensor (from `torch.{short}`): it does "
            f"not follow `.to()`/`.cuda()` and is not in `state_dict()`; use "
            f"`self.register_buffer(\"{attr}\", ...)`, or `nn.Parameter(...)` if it should be trained",
            fix=self._fix(statement, attr, value) if single else None,
        )

    def _fix(self, statement: cst.CSTNode, attr: str, value: cst.BaseExpression) -> NodeFix:
        code = self.ctx.module.code_for_node(value)
        return NodeFix(
            f"register `{attr}` as a non-persistent buffer",
            "unsafe",
            ((statement, f"self.register_buffer({attr!r}, {code}, persistent=False)"),),
        )
