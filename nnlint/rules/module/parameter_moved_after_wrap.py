from __future__ import annotations

import libcst as cst

from nnlint.patterns import is_call_to, strip_chain
from nnlint.rule import Invalid, NodeFix, Rule

_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
# Tensor methods that return a new tensor (a copy on another device or dtype).
_MOVES = frozenset(
    "to cuda cpu double float half bfloat16 long int short bool byte char type xpu mps".split()
)
# Expressions that need no parentheses before `.method()`.
_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.List, cst.Tuple, cst.Dict)


class ParameterMovedAfterWrap(Rule):
    code = "NN106"
    name = "parameter-moved-after-wrap"
    summary = "`nn.Parameter(t).cuda()` / `.to(...)` / `.double()` returns a plain tensor, not a Parameter"
    what = (
        "Flags `nn.Parameter(...)` directly followed by a device or dtype conversion: `.to(...)`, "
        "`.cuda()`, `.cpu()`, `.float()`, `.double()`, `.half()`, `.type(...)` and the like."
    )
    why = (
        "The conversion is an autograd operation on the Parameter: it returns a new, non-leaf, plain "
        "tensor. Stored on a Module it is not registered (missing from `parameters()` and "
        "`state_dict()`), the optimizer refuses it (`can't optimize a non-leaf Tensor`) or never sees "
        "it, and its `.grad` stays None. (`.to()` returns the Parameter itself only when nothing "
        "changes, so the bug hides on the CPU and shows on the GPU.)"
    )
    use_instead = (
        "import torch\nimport torch.nn as nn\n\nweight = nn.Parameter(torch.randn(3, 3).to(device))\n"
    )
    fix_safety = (
        "Safe: the conversion moves inside, `nn.Parameter(t.to(device))`, so the result is the "
        "Parameter the code meant to create, on the device and with the dtype it asked for."
    )
    fix_availability = "safe"
    VALID = [
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, device):\n        super().__init__()\n        self.w = nn.Parameter(torch.randn(3, 3).to(device))\n        self.b = nn.Parameter(torch.zeros(3, device=device, dtype=torch.float64))\n",
        # In-place methods return the Parameter itself.
        "import torch\nfrom torch import nn\n\nw = nn.Parameter(torch.randn(3)).requires_grad_(False)\nw.data = w.data.cuda()\n",
        # Moving a registered parameter's data, or a module.
        "import torch.nn as nn\n\nmodel = nn.Linear(2, 2).cuda()\nmodel.weight.data = model.weight.data.half()\n",
    ]
    INVALID = [
        Invalid(
            "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.randn(3, 3)).cuda()  # error\n",
            fixed="import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.randn(3, 3).cuda())  # error\n",
        ),
        Invalid(
            "import torch\nfrom torch import nn\n\ndef make(device):\n    scale = nn.Parameter(torch.ones(1), requires_grad=True).to(device).double()  # error\n    return scale\n",
            fixed="import torch\nfrom torch import nn\n\ndef make(device):\n    scale = nn.Parameter(torch.ones(1).to(device).double(), requires_grad=True)  # error\n    return scale\n",
        ),
        Invalid(
            "import torch\nfrom torch.nn import Parameter as P\n\nw = P(a + b).float()  # error\n",
            fixed="import torch\nfrom torch.nn import Parameter as P\n\nw = P((a + b).float())  # error\n",
        ),
        Invalid(
            "import torch\n\nbias = torch.nn.parameter.Parameter(data=torch.zeros(4)).type(torch.float16)  # error\n",
            fixed="import torch\n\nbias = torch.nn.parameter.Parameter(data=torch.zeros(4).type(torch.float16))  # error\n",
        ),
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._inner: set[cst.Call] = set()  # calls already covered by an outer chain

    def visit_Call(self, node: cst.Call) -> None:
        if node in self._inner:
            return
        base, moves = strip_chain(node, _MOVES)
        if not moves or not is_call_to(base, self.ctx, _PARAMETER):
            return
        # Remember the inner links so `P(t).to(d).float()` is reported once, as a whole.
        inner = node
        while inner is not base and isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute):
            self._inner.add(inner)
            inner = inner.func.value  # type: ignore[assignment]
        assert isinstance(base, cst.Call)
        wrapper = self.ctx.module.code_for_node(base.func)
        chain = "".join(f".{m}()" if m != "to" else ".to(...)" for m in moves)
        self.report(
            node,
            f"`{wrapper}(...){chain}` returns a plain, non-leaf tensor, not a Parameter: it is not "
            f"registered and the optimizer cannot train it; convert the data first: "
            f"`{wrapper}(t{chain})`",
            fix=self._fix(node, base),
        )

    def _fix(self, node: cst.Call, parameter: cst.Call) -> NodeFix | None:
        code = self.ctx.module.code_for_node
        outer, inner = code(node), code(parameter)
        data_index = next(
            (i for i, a in enumerate(parameter.args) if (a.keyword is None and not a.star) or (a.keyword is not None and a.keyword.value == "data")),
            None,
        )
        if data_index is None or not outer.startswith(inner) or node.lpar or parameter.lpar:
            return None
        chain = outer[len(inner):]
        data = parameter.args[data_index].value
        data_code = code(data)
        if not isinstance(data, _ATOMS) and not data.lpar:
            data_code = f"({data_code})"
        new_arg = parameter.args[data_index].with_changes(value=cst.parse_expression(data_code + chain))
        args = list(parameter.args)
        args[data_index] = new_arg
        return NodeFix("move the conversion inside `Parameter(...)`", "safe", ((node, parameter.with_changes(args=args)),))
