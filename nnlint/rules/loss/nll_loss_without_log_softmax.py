from __future__ import annotations

import libcst as cst

from nnlint.rule import Rule
from nnlint.tensors import LOGITS, NLL, PROBS, SIGMOID, activation_dataflows

_SHORT = 40
_HOLDS = {
    PROBS: "softmax probabilities",
    SIGMOID: "sigmoid outputs",
    LOGITS: "raw logits (the output of a linear layer)",
}


class NllLossWithoutLogSoftmax(Rule):
    code = "NN603"
    name = "nll-loss-without-log-softmax"
    summary = "`NLLLoss` / `F.nll_loss` given raw logits or softmax output instead of log-probabilities"
    triggers = ("nll_loss", "NLLLoss")  # it reports only at a call of that loss
    what = (
        "Flags `F.nll_loss(x, target)` and `criterion(x, target)` (`criterion` a `nn.NLLLoss`) "
        "when `x` is known not to hold log-probabilities: it comes from `F.softmax` / "
        "`nn.Softmax`, a sigmoid, or straight from a linear layer (`nn.Linear`, `F.linear`, a "
        "model of this file whose `forward` ends in one, built in the same function, held on "
        "`self`, or passed to a helper by every call of it in the file). Inputs from `log_softmax` / "
        "`nn.LogSoftmax` / `torch.log(softmax)`, and inputs nnlint cannot trace, are left alone."
    )
    why = (
        "`NLLLoss` does no normalisation: it returns `-input[target]`, assuming the input is "
        "already `log_softmax` output. On raw logits the loss is unbounded below and the model "
        "learns to inflate one logit; on probabilities it maximises a probability linearly "
        "instead of its log, and the gradients are wrong. Both train without raising an error."
    )
    use_instead = (
        "import torch.nn.functional as F\n\nloss = F.nll_loss(F.log_softmax(logits, dim=1), y)\n"
        "# or, equivalently and in one step:\nloss = F.cross_entropy(logits, y)\n"
    )
    VALID = [
        "import torch.nn.functional as F\n\ndef step(model, x, y):\n    return F.nll_loss(F.log_softmax(model(x), dim=1), y)\n",
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\ndef step(logits, y):\n    probs = F.softmax(logits, dim=1)\n    return nn.NLLLoss()(torch.log(probs), y)\n",
        # Unknown input: might be log-probabilities.
        "import torch.nn.functional as F\n\ndef step(model, x, y):\n    return F.nll_loss(model(x), y)\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 3)\n        self.out = nn.LogSoftmax(dim=1)\n\n    def forward(self, x):\n        return self.out(self.fc(x))\n\nloss = nn.NLLLoss()(Net()(x), y)\n",
    ]
    INVALID = [
        "import torch.nn.functional as F\n\ndef step(model, x, y):\n    probs = F.softmax(model(x), dim=1)\n    return F.nll_loss(probs, y)  # error\n",
        # The classic MNIST bug: a model ending in a Linear layer, trained with nll_loss.
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc1 = nn.Linear(784, 128)\n        self.fc2 = nn.Linear(128, 10)\n\n    def forward(self, x):\n        x = F.relu(self.fc1(x))\n        return self.fc2(x)\n\ndef train(loader, optimizer):\n    model = Net()\n    for data, target in loader:\n        output = model(data)\n        loss = F.nll_loss(output, target)  # error\n        loss.backward()\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        dataflows = activation_dataflows(self.ctx)
        found = dataflows.loss_input(node)
        if found is None or found[0] != NLL:
            return
        given = found[1]
        kind = dataflows.kind_of(node, given)
        if kind not in _HOLDS:
            return
        shown = self._code(given)
        self.report(
            given,
            f"`{shown}` holds {_HOLDS[kind]}, but `{self._code(node.func)}` expects "
            f"log-probabilities (it only negates `input[target]`); pass `F.log_softmax(..., dim=1)` "
            f"of the logits, or use `F.cross_entropy` on the logits",
        )

    def _code(self, node: cst.CSTNode) -> str:
        code = self.ctx.module.code_for_node(node)
        return code if len(code) <= _SHORT else code[: _SHORT - 3] + "..."
