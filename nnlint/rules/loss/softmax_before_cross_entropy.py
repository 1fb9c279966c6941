from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.rule import Rule
from nnlint.tensors import CROSS_ENTROPY, PROBS, activation_dataflows

if TYPE_CHECKING:
    from nnlint.context import FileContext

_SHORT = 40


class SoftmaxBeforeCrossEntropy(Rule):
    code = "NN601"
    name = "softmax-before-cross-entropy"
    summary = "softmax probabilities passed to `CrossEntropyLoss` / `F.cross_entropy`, which expects logits"
    triggers = ("cross_entropy", "CrossEntropyLoss")  # it reports only at a call of that loss
    what = (
        "Flags `F.cross_entropy(probs, target)` and `criterion(probs, target)` (`criterion` a "
        "`nn.CrossEntropyLoss`) when `probs` is known to hold softmax output: `F.softmax`, "
        "`torch.softmax`, `x.softmax(...)`, an `nn.Softmax` layer, an `nn.Sequential` ending in "
        "one, or a model of this file whose `forward` returns softmax output -- built in the same "
        "function, held on `self`, or passed to a helper by every call of it in the file. Softmax "
        "computed only for predictions or metrics, and `log_softmax` with `nll_loss`, are left alone."
    )
    why = (
        "`CrossEntropyLoss` applies `log_softmax` to its input itself. Given probabilities, it "
        "computes the softmax of a softmax: the outputs are squashed into [0, 1], the loss can "
        "never go near zero, and gradients shrink by orders of magnitude -- the model trains "
        "slowly or plateaus, with no error to point at the cause."
    )
    use_instead = (
        "import torch.nn.functional as F\n\nlogits = model(x)\nloss = F.cross_entropy(logits, y)\n"
        "probs = F.softmax(logits, dim=1)  # for metrics only\n"
    )
    VALID = [
        "import torch.nn.functional as F\n\ndef step(model, x, y):\n    logits = model(x)\n    probs = F.softmax(logits, dim=1)\n    acc = (probs.argmax(1) == y).float().mean()\n    return F.cross_entropy(logits, y), acc\n",
        "import torch.nn.functional as F\n\ndef step(model, x, y):\n    return F.nll_loss(F.log_softmax(model(x), dim=1), y)\n",
        # The variable was re-bound on one branch only: unknown.
        "import torch.nn.functional as F\n\ndef step(model, x, y, raw):\n    out = F.softmax(model(x), dim=1)\n    if raw:\n        out = model(x)\n    return F.cross_entropy(out, y)\n",
        # A model whose forward returns softmax only at inference.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 3)\n\n    def forward(self, x):\n        if self.training:\n            return self.fc(x)\n        return F.softmax(self.fc(x), dim=1)\n\nmodel = Net()\nloss = nn.CrossEntropyLoss()(model(x), y)\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn.functional as F\n\ndef step(model, x, y):\n    probs = F.softmax(model(x), dim=1)\n    loss = F.cross_entropy(probs, y)  # error\n    return loss\n",
        "import torch\nimport torch.nn as nn\n\ncriterion = nn.CrossEntropyLoss()\n\ndef step(model, x, y):\n    out = model(x).softmax(dim=-1)\n    return criterion(out.view(-1, 10), y)  # error\n",
        # The model ends in softmax; the loss is used with it in the same file.
        "import torch.nn as nn\n\nclass Classifier(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.net = nn.Sequential(nn.Linear(8, 3), nn.Softmax(dim=1))\n\n    def forward(self, x):\n        return self.net(x)\n\ndef train(loader):\n    model = Classifier().cuda()\n    criterion = nn.CrossEntropyLoss()\n    for x, y in loader:\n        loss = criterion(model(x), y)  # error\n        loss.backward()\n",
        # Lightning style: `self(x)` and a loss module on `self`.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Lit(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 3)\n        self.loss = nn.CrossEntropyLoss()\n\n    def forward(self, x):\n        return F.softmax(self.fc(x), dim=-1)\n\n    def training_step(self, batch, batch_idx):\n        x, y = batch\n        return self.loss(self(x), y)  # error\n",
    ]

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        # (loss call, its softmax input) found in the statement being walked: one finding per
        # statement, naming every input (`(ce(pred, y) + ce(model(x), y)) / 2` is one mistake,
        # the model's softmax, seen twice).
        self._pending: list[tuple[cst.Call, cst.BaseExpression]] = []

    def visit_Call(self, node: cst.Call) -> None:
        dataflows = activation_dataflows(self.ctx)
        found = dataflows.loss_input(node)
        if found is None or found[0] != CROSS_ENTROPY:
            return
        given = found[1]
        if dataflows.kind_of(node, given) != PROBS:
            return
        self._pending.append((node, given))
        if not self.ctx.statements:  # in a compound statement's header: no statement to wait for
            self._flush()

    def leave_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._flush()

    def leave_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        found, self._pending = self._pending, []
        inputs = _unique(self._code(given) for _, given in found)
        losses = _unique(self._code(call.func) for call, _ in found)
        self.report(
            found[0][1],
            f"{_names(inputs)} {'holds' if len(inputs) == 1 else 'hold'} softmax probabilities, but "
            f"{_names(losses)} {'applies' if len(losses) == 1 else 'apply'} log_softmax to "
            f"{'its' if len(losses) == 1 else 'their'} input itself: the softmax is applied twice "
            f"and gradients vanish; pass the logits (what went into the softmax) and keep softmax "
            f"for predictions",
        )

    def _code(self, node: cst.CSTNode) -> str:
        code = self.ctx.module.code_for_node(node)
        return code if len(code) <= _SHORT else code[: _SHORT - 3] + "..."


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _names(items: list[str]) -> str:
    quoted = [f"`{item}`" for item in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
