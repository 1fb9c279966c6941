from __future__ import annotations

import libcst as cst

from nnlint.patterns import keyword
from nnlint.rule import Rule

_F = "torch.nn.functional."
# Functions taking the input first and `dim` second, and layers taking `dim` first.
_FUNCTIONS = frozenset({f"{_F}softmax", f"{_F}log_softmax", f"{_F}softmin"})
_LAYERS = frozenset({"torch.nn.Softmax", "torch.nn.LogSoftmax", "torch.nn.Softmin"})


class SoftmaxImplicitDim(Rule):
    code = "NN604"
    name = "softmax-implicit-dim"
    summary = "`F.softmax(x)` / `nn.Softmax()` / `log_softmax` without `dim`: the dimension is guessed"
    what = (
        "Flags `F.softmax`, `F.log_softmax`, `F.softmin` called without a `dim` (positional or "
        "keyword, or with `dim=None`), and `nn.Softmax()`, `nn.LogSoftmax()`, `nn.Softmin()` "
        "built without one."
    )
    why = (
        "Without `dim`, PyTorch guesses: dimension 0 for 0-, 1- and 3-dimensional inputs, "
        "dimension 1 otherwise (a deprecated behaviour that only warns). For a batch of sequences "
        "`(batch, seq, classes)` that normalises over the batch, mixing samples with each other; "
        "for a single unbatched sample it normalises over the wrong axis. The code runs and the "
        "probabilities are wrong."
    )
    use_instead = "import torch.nn as nn\nimport torch.nn.functional as F\n\nprobs = F.softmax(logits, dim=-1)\nact = nn.Softmax(dim=1)\n"
    VALID = [
        "import torch.nn as nn\nimport torch.nn.functional as F\n\np = F.softmax(x, 1)\nq = F.log_softmax(x, dim=-1)\nact = nn.Softmax(-1)\nlog = nn.LogSoftmax(dim=1)\n",
        # torch.softmax and the tensor method require dim: an omission fails loudly.
        "import torch\n\np = torch.softmax(x, -1)\nq = x.softmax(-1)\n",
        "import jax\n\np = jax.nn.softmax(x)\n",
    ]
    INVALID = [
        "import torch.nn as nn\nimport torch.nn.functional as F\n\np = F.softmax(x)  # error\nq = F.log_softmax(x, dim=None)  # error\nlayer = nn.Softmax()  # error\nlog = nn.LogSoftmax()  # error\n",
        "from torch.nn.functional import softmax\n\ndef predict(logits):\n    return softmax(logits, dtype=None)  # error\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        name = self.ctx.qualified_name(node.func)
        if name in _FUNCTIONS:
            dim_position = 1
        elif name in _LAYERS:
            dim_position = 0
        else:
            return
        if any(arg.star for arg in node.args):
            return  # `F.softmax(*args)`: cannot tell
        positional = [arg for arg in node.args if arg.keyword is None]
        dim = keyword(node, "dim")
        value = dim.value if dim is not None else (positional[dim_position].value if len(positional) > dim_position else None)
        if value is not None and not (isinstance(value, cst.Name) and value.value == "None"):
            return
        written = self.ctx.module.code_for_node(node.func)
        if dim_position == 0:
            instead = f"`{written}(dim=-1)` (or the dimension that holds the classes)"
        else:
            instead = f"`{written}(..., dim=-1)` (or the dimension that holds the classes)"
        self.report(
            node,
            f"`{written}` without `dim` guesses the dimension (0 for 1-D and 3-D inputs, 1 "
            f"otherwise) and may normalise across the batch; write {instead}",
        )
