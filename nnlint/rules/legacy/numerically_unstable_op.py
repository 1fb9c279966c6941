from __future__ import annotations

import libcst as cst

from nnlint.patterns import keyword
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.rules.legacy._symbols import written_name

_EXP = frozenset({"torch.exp", "torch.special.exp"})
_LOG = frozenset({"torch.log", "torch.special.log"})
_SUM = frozenset({"torch.sum"})
# Integer-valued results: `log(1 + n)` of a whole number >= 0 loses nothing.
_INTEGER_VALUED = frozenset({"torch.floor", "torch.ceil", "torch.round", "torch.trunc", "torch.arange", "len"})


def _is_one(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Integer):
        return node.value == "1"
    if isinstance(node, cst.Float):
        try:
            return float(node.value) == 1.0
        except ValueError:
            return False
    return False


def _single_arg(call: cst.Call) -> cst.BaseExpression | None:
    if len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    return None


class NumericallyUnstableOp(Rule):
    code = "NN808"
    name = "numerically-unstable-op"
    summary = "`exp(x) - 1`, `log(1 + x)` or `log(sum(exp(x)))` written out instead of the stable function"
    what = (
        "Flags `torch.exp(x) - 1` (use `torch.expm1(x)`), `torch.log(1 + x)` / `torch.log(x + 1)` "
        "(use `torch.log1p(x)`) and `torch.log(torch.sum(torch.exp(x), dim))` (use "
        "`torch.logsumexp(x, dim)`). The sum needs an explicit `dim` that is not `None`: "
        "`torch.logsumexp` requires one."
    )
    why = (
        "For small `x`, `exp(x)` and `1 + x` round to 1 in float32 and the subtraction or the log "
        "loses every significant digit (`torch.exp(1e-8) - 1` is 0, `torch.expm1(1e-8)` is "
        "1e-8). `log(sum(exp(x)))` overflows to `inf` once any element passes ~88 in float32 "
        "(~11 in float16), while `logsumexp` subtracts the maximum first and stays finite."
    )
    use_instead = "import torch\n\nb = torch.expm1(a)\nc = torch.log1p(p)\nlse = torch.logsumexp(scores, dim=1, keepdim=True)\n"
    fix_safety = "Safe: the stable function computes the same value, more accurately."
    fix_availability = "safe"
    triggers = ("exp", "log")
    VALID = [
        "import torch\n\nb = torch.expm1(a)\nc = torch.log1p(a)\nd = torch.logsumexp(x, dim=1)\n",
        "import torch\n\nd = torch.exp(a) - 2\ne = torch.log(2 + a)\nf = torch.sum(torch.log(torch.exp(x)), 1)\n",
        # 1 + a whole number: nothing to lose.
        "import torch\n\nscale = torch.log(1 + torch.floor(positions / period))\n",
        # No dim: logsumexp needs one.
        "import torch\n\ny = torch.log(torch.sum(torch.exp(x)))\n",
        # math, numpy.
        "import math\nimport numpy as np\n\nd = math.exp(a) - 1\ne = np.log(1 + a)\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\ndef scale(a):\n    return (torch.exp(a) - 1) * 0.5  # error\n",
            fixed="import torch\n\ndef scale(a):\n    return (torch.expm1(a)) * 0.5  # error\n",
        ),
        Invalid(
            "import torch as th\n\nrate = th.log(1.0 + counts)  # error\nodds = th.log(p + 1)  # error\n",
            fixed="import torch as th\n\nrate = th.log1p(counts)  # error\nodds = th.log1p(p)  # error\n",
        ),
        Invalid(
            "import torch\n\nnorm = torch.log(torch.sum(torch.exp(logits), dim=-1, keepdim=True))  # error\n",
            fixed="import torch\n\nnorm = torch.logsumexp(logits, dim=-1, keepdim=True)  # error\n",
        ),
    ]

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Subtract) or not _is_one(node.right):
            return
        left = node.left
        if not isinstance(left, cst.Call) or left.lpar or self.ctx.qualified_name(left.func) not in _EXP:
            return
        x = _single_arg(left)
        if x is None:
            return
        callee, imports = written_name(self.ctx, left.func, "torch.expm1")
        new = cst.Call(func=cst.parse_expression(callee), args=[cst.Arg(value=x)])
        self.report(
            node,
            "`torch.exp(x) - 1` loses precision for small `x` (exp(x) rounds to 1); use `torch.expm1(x)`",
            fix=NodeFix("use `torch.expm1`", "safe", ((node, new),), imports),
        )

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.qualified_name(node.func) not in _LOG:
            return
        inner = _single_arg(node)
        if inner is None:
            return
        if isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Add) and not inner.lpar:
            if _is_one(inner.left):
                x = inner.right
            elif _is_one(inner.right):
                x = inner.left
            else:
                return
            if isinstance(x, cst.Call) and self.ctx.qualified_name(x.func) in _INTEGER_VALUED:
                return
            callee, imports = written_name(self.ctx, node.func, "torch.log1p")
            new = node.with_changes(func=cst.parse_expression(callee), args=[cst.Arg(value=x)])
            self.report(
                node,
                "`torch.log(1 + x)` loses precision for small `x` (1 + x rounds to 1); use `torch.log1p(x)`",
                fix=NodeFix("use `torch.log1p`", "safe", ((node, new),), imports),
            )
            return
        if isinstance(inner, cst.Call) and self.ctx.qualified_name(inner.func) in _SUM:
            self._logsumexp(node, inner)

    def _logsumexp(self, node: cst.Call, total: cst.Call) -> None:
        args = list(total.args)
        if not args or args[0].keyword is not None or args[0].star:
            return
        exp = args[0].value
        if not isinstance(exp, cst.Call) or self.ctx.qualified_name(exp.func) not in _EXP:
            return
        x = _single_arg(exp)
        if x is None:
            return
        dim = keyword(total, "dim")
        if dim is None:
            positional = [a for a in args if a.keyword is None]
            dim = positional[1] if len(positional) > 1 else None
        if dim is None or (isinstance(dim.value, cst.Name) and dim.value.value == "None"):
            return  # logsumexp needs a dimension
        fix = None
        if all(a.keyword is None or a.keyword.value in ("dim", "keepdim") for a in args) and not any(a.star for a in args):
            callee, imports = written_name(self.ctx, node.func, "torch.logsumexp")
            new = node.with_changes(func=cst.parse_expression(callee), args=[args[0].with_changes(value=x), *args[1:]])
            fix = NodeFix("use `torch.logsumexp`", "safe", ((node, new),), imports)
        self.report(
            node,
            "`torch.log(torch.sum(torch.exp(x), dim))` overflows to inf for large `x`; use `torch.logsumexp(x, dim)`",
            fix=fix,
        )
