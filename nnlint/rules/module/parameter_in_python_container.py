from __future__ import annotations

import libcst as cst

from nnlint.patterns import is_call_to
from nnlint.rule import Invalid
from nnlint.rules.module.module_in_python_container import PythonContainerRule

_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_PARAMETER_CONTAINERS = frozenset(
    {"torch.nn.ParameterList", "torch.nn.ParameterDict"}
)


class ParameterInPythonContainer(PythonContainerRule):
    code = "NN105"
    name = "parameter-in-python-container"
    summary = "`nn.Parameter`s kept in a plain list / dict on `self` are never registered"
    what = (
        "Flags a plain `list`, `tuple` or `dict` stored on `self` in an `nn.Module` subclass when "
        "it holds `nn.Parameter`s: a literal or comprehension (`self.scales = [nn.Parameter(...) "
        "for _ in range(n)]`), an empty container that parameters are appended to later, or a "
        "local list of parameters assigned to `self`. Containers also passed to "
        "`nn.ParameterList` / `register_parameter` are left alone."
    )
    why = (
        "nn.Module registers a Parameter only when it is assigned directly as an attribute or held "
        "in `nn.ParameterList` / `nn.ParameterDict`. In a plain container it is missing from "
        "`model.parameters()` (the optimizer never updates it), from `state_dict()`, and "
        "`model.to(device)` leaves it behind."
    )
    use_instead = (
        "class Scales(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n"
        "        self.scales = nn.ParameterList([nn.Parameter(torch.ones(1)) for _ in range(n)])\n"
    )
    fix_safety = (
        "Unsafe: wrapping in `nn.ParameterList` / `nn.ParameterDict` registers the parameters, which "
        "adds their keys to `state_dict()` (older checkpoints no longer load with `strict=True`) and "
        "hands them to optimizers built from `model.parameters()`."
    )
    fix_availability = "unsafe"
    list_wrapper = "ParameterList"
    dict_wrapper = "ParameterDict"
    element_noun = "parameter"
    consequences = "`.parameters()`, the optimizer, `state_dict()` and `.to()` never see them"
    registering_methods = frozenset({"register_parameter"})

    VALID = [
        "import torch\nimport torch.nn as nn\n\nclass Scales(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.scales = nn.ParameterList([nn.Parameter(torch.ones(1)) for _ in range(n)])\n        self.bias = nn.ParameterDict({'a': nn.Parameter(torch.zeros(1))})\n",
        # Built as a local list, then wrapped.
        "import torch\nimport torch.nn as nn\n\nclass Scales(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        params = []\n        for _ in range(n):\n            params.append(nn.Parameter(torch.ones(1)))\n        self.scales = nn.ParameterList(params)\n",
        # Registered one by one.
        "import torch\nimport torch.nn as nn\n\nclass Scales(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.scales = [nn.Parameter(torch.ones(1)) for _ in range(n)]\n        for i, p in enumerate(self.scales):\n            self.register_parameter(f'scale{i}', p)\n",
        # Plain tensors and references to registered parameters.
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(1))\n        self.group = [self.w]\n        self.shapes = [(1, 2), (3, 4)]\n",
        # Not a Module class.
        "import torch\nimport torch.nn as nn\n\nclass Holder:\n    def __init__(self):\n        self.params = [nn.Parameter(torch.ones(1))]\n",
    ]
    INVALID = [
        Invalid(
            "import torch\nimport torch.nn as nn\n\nclass Scales(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.scales = [nn.Parameter(torch.ones(1)) for _ in range(n)]  # error\n",
            fixed="import torch\nimport torch.nn as nn\n\nclass Scales(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.scales = nn.ParameterList([nn.Parameter(torch.ones(1)) for _ in range(n)])  # error\n",
        ),
        Invalid(
            "import torch\nfrom torch import nn\n\nclass Prompts(nn.Module):\n    def __init__(self, names):\n        super().__init__()\n        self.prompts = {}  # error\n        for name in names:\n            self.prompts[name] = nn.Parameter(torch.randn(4, 8))\n",
            fixed="import torch\nfrom torch import nn\n\nclass Prompts(nn.Module):\n    def __init__(self, names):\n        super().__init__()\n        self.prompts = nn.ParameterDict()  # error\n        for name in names:\n            self.prompts[name] = nn.Parameter(torch.randn(4, 8))\n",
        ),
        Invalid(
            "import torch\nfrom torch.nn import Module as M, Parameter as P\n\nclass Base(M):\n    pass\n\nclass Gates(Base):\n    def __init__(self):\n        super().__init__()\n        self.gates = [P(torch.zeros(1)), P(torch.zeros(1))]  # error\n",
            fixed="import torch\nfrom torch.nn import Module as M, Parameter as P\n\nclass Base(M):\n    pass\n\nclass Gates(Base):\n    def __init__(self):\n        super().__init__()\n        self.gates = torch.nn.ParameterList([P(torch.zeros(1)), P(torch.zeros(1))])  # error\n",
        ),
        # A local list of parameters stored on self, and appends in another method.
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        weights = []\n        for _ in range(n):\n            w = nn.Parameter(torch.randn(8, 8))\n            weights.append(w)\n        self.weights = weights  # error\n        self.extra = []  # error\n\n    def grow(self):\n        self.extra.append(nn.Parameter(torch.zeros(8)))\n",
    ]

    def element_name(self, node: cst.BaseExpression) -> str | None:
        return "torch.nn.Parameter" if is_call_to(node, self.ctx, _PARAMETER) else None

    def wraps(self, value: cst.BaseExpression) -> bool:
        return isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in _PARAMETER_CONTAINERS
