from __future__ import annotations

import libcst as cst

from nnlint.rule import Rule
from nnlint.tensors import BCE_WITH_LOGITS, SIGMOID, activation_dataflows

_SHORT = 40


class SigmoidBeforeBceWithLogits(Rule):
    code = "NN602"
    name = "sigmoid-before-bce-with-logits"
    summary = "sigmoid output passed to `BCEWithLogitsLoss` / `binary_cross_entropy_with_logits`, which expects logits"
    triggers = ("with_logits", "WithLogits")  # it reports only at a call of that loss
    what = (
        "Flags `F.binary_cross_entropy_with_logits(p, target)` and `criterion(p, target)` "
        "(`criterion` a `nn.BCEWithLogitsLoss`) when `p` is known to hold sigmoid output: "
        "`torch.sigmoid`, `F.sigmoid`, `x.sigmoid()`, an `nn.Sigmoid` layer, an `nn.Sequential` "
        "ending in one, or a model of this file whose `forward` returns sigmoid output (built in "
        "the same function, held on `self`, or passed to a helper by every call of it in the "
        "file). Sigmoid computed only for predictions or metrics is left alone."
    )
    why = (
        "`BCEWithLogitsLoss` applies the sigmoid itself (that is what makes it numerically "
        "stable). Given probabilities, it computes the sigmoid of a sigmoid: every prediction is "
        "squashed into (0.5, 0.73), the loss cannot approach zero and gradients are tiny -- the "
        "model trains badly with no error message."
    )
    use_instead = (
        "import torch\nimport torch.nn.functional as F\n\nlogits = model(x)\n"
        "loss = F.binary_cross_entropy_with_logits(logits, y)\nprobs = torch.sigmoid(logits)  # for metrics\n"
    )
    VALID = [
        "import torch\nimport torch.nn.functional as F\n\ndef step(model, x, y):\n    logits = model(x)\n    preds = torch.sigmoid(logits) > 0.5\n    return F.binary_cross_entropy_with_logits(logits, y), preds\n",
        # Probabilities with the loss made for them.
        "import torch\nimport torch.nn as nn\n\ndef step(model, x, y):\n    return nn.BCELoss()(torch.sigmoid(model(x)), y)\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn as nn\n\ndef step(model, x, y):\n    criterion = nn.BCEWithLogitsLoss()\n    p = torch.sigmoid(model(x))\n    return criterion(p, y)  # error\n",
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Head(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 1)\n        self.act = nn.Sigmoid()\n\n    def forward(self, x):\n        return self.act(self.fc(x))\n\n    def loss(self, x, y):\n        return F.binary_cross_entropy_with_logits(self(x).squeeze(1), y)  # error\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        dataflows = activation_dataflows(self.ctx)
        found = dataflows.loss_input(node)
        if found is None or found[0] != BCE_WITH_LOGITS:
            return
        given = found[1]
        if dataflows.kind_of(node, given) != SIGMOID:
            return
        self.report(
            given,
            f"`{self._code(given)}` holds sigmoid outputs, but `{self._code(node.func)}` applies the "
            f"sigmoid itself: it is applied twice and gradients vanish; pass the logits (what went "
            f"into the sigmoid), or use `F.binary_cross_entropy` / `nn.BCELoss` on probabilities",
        )

    def _code(self, node: cst.CSTNode) -> str:
        code = self.ctx.module.code_for_node(node)
        return code if len(code) <= _SHORT else code[: _SHORT - 3] + "..."
