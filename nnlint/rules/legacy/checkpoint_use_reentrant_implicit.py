from __future__ import annotations

import libcst as cst

from nnlint.patterns import keyword, keyword_appended
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.rules.legacy._table import torch_version

_CHECKPOINT = frozenset(
    {
        "torch.utils.checkpoint.checkpoint",
        "torch.utils.checkpoint.checkpoint_sequential",
    }
)
# The release that started warning about the implicit default (the argument exists since 1.11).
WARNS_SINCE = (2, 1)


class CheckpointUseReentrantImplicit(Rule):
    code = "NN803"
    name = "checkpoint-use-reentrant-implicit"
    summary = "`torch.utils.checkpoint.checkpoint(...)` without `use_reentrant=`"
    what = (
        "Flags calls of `torch.utils.checkpoint.checkpoint` and `checkpoint_sequential` that do "
        "not pass `use_reentrant=` (and no `**kwargs` that could). With `torch-version` set "
        "below 2.1 it stays silent (those releases did not ask for the argument)."
    )
    why = (
        "The default of `use_reentrant` is changing from `True` to `False`: torch warns on every "
        "call without it and says that, starting in 2.9, a call without it will raise. The two "
        "variants differ: the reentrant one needs an input with `requires_grad=True` (else the "
        "checkpointed block gets no gradients, silently), does not support `torch.autograd.grad` "
        "or keyword arguments, and ignores detached tensors; `use_reentrant=False` is the "
        "recommended one."
    )
    use_instead = "from torch.utils.checkpoint import checkpoint\n\nh = checkpoint(block, h, use_reentrant=False)\n"
    fix_safety = (
        "Unsafe: `use_reentrant=False` is the recommended variant, but it differs from the old "
        "default (it supports more, and it saves and recomputes slightly differently); pass "
        "`use_reentrant=True` instead where the old behaviour is required."
    )
    fix_availability = "unsafe"
    triggers = ("checkpoint",)
    VALID = [
        "from torch.utils.checkpoint import checkpoint\n\ndef forward(self, x):\n    return checkpoint(self.block, x, use_reentrant=False)\n",
        "import torch.utils.checkpoint\n\ny = torch.utils.checkpoint.checkpoint(f, x, use_reentrant=True)\n",
        # **kwargs may carry it.
        "from torch.utils.checkpoint import checkpoint\n\ndef run(f, x, **kwargs):\n    return checkpoint(f, x, **kwargs)\n",
        # Another library's checkpoint.
        "import deepspeed\n\nx = deepspeed.checkpointing.checkpoint(block, x)\n",
    ]
    INVALID = [
        Invalid(
            "from torch.utils.checkpoint import checkpoint\n\nclass Encoder(nn.Module):\n    def forward(self, x):\n        for layer in self.layers:\n            x = checkpoint(layer, x)  # error\n        return x\n",
            fixed="from torch.utils.checkpoint import checkpoint\n\nclass Encoder(nn.Module):\n    def forward(self, x):\n        for layer in self.layers:\n            x = checkpoint(layer, x, use_reentrant=False)  # error\n        return x\n",
        ),
        Invalid(
            "import torch\n\nout = torch.utils.checkpoint.checkpoint_sequential(model, 4, x)  # error\n",
            fixed="import torch\n\nout = torch.utils.checkpoint.checkpoint_sequential(model, 4, x, use_reentrant=False)  # error\n",
        ),
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        version = torch_version(ctx)
        self._silent = version is not None and version < WARNS_SINCE

    def visit_Call(self, node: cst.Call) -> None:
        if self._silent or self.ctx.qualified_name(node.func) not in _CHECKPOINT:
            return
        if keyword(node, "use_reentrant") is not None or any(arg.star == "**" for arg in node.args):
            return
        replacement = keyword_appended(self.ctx, node, "use_reentrant=False")
        self.report(
            node,
            "`checkpoint` without `use_reentrant=`: torch warns, the default is changing and a call "
            "without it will raise; pass `use_reentrant=False` (recommended) or `use_reentrant=True` "
            "to keep the old behaviour",
            fix=NodeFix("pass `use_reentrant=False`", "unsafe", (replacement,)) if replacement else None,
        )
