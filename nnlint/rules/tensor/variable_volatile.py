from __future__ import annotations

import libcst as cst

from nnlint.patterns import keyword
from nnlint.rule import Rule

_VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})


class VariableVolatile(Rule):
    code = "NN503"
    tags = frozenset({"deprecated"})
    name = "variable-volatile"
    summary = "`Variable(..., volatile=True)` has had no effect since PyTorch 0.4"
    what = "Flags `torch.autograd.Variable(...)` called with a `volatile=` argument."
    why = (
        "`volatile=True` was how PyTorch before 0.4 turned off gradient tracking for inference. "
        "Since 0.4 the flag is ignored (with only a warning), so the code it guards now builds "
        "the autograd graph and keeps every activation alive: inference uses far more memory and "
        "time than the author intended. `Variable` itself is a no-op wrapper that returns a tensor."
    )
    use_instead = "import torch\n\nwith torch.no_grad():\n    output = model(images)\n"
    VALID = [
        "import torch\n\nwith torch.no_grad():\n    output = model(torch.zeros(1, 3))\n",
        "from torch.autograd import Variable\n\nx = Variable(torch.zeros(3), requires_grad=True)\n",
        # Another library's Variable.
        "from tensorflow import Variable\n\nv = Variable(0.0, volatile=True)\n",
    ]
    INVALID = [
        "import torch\nfrom torch.autograd import Variable\n\ndef predict(model, images):\n    inputs = Variable(images, volatile=True)  # error\n    return model(inputs)\n",
        "import torch\n\nx = torch.autograd.Variable(torch.zeros(3), volatile=False)  # error\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        arg = keyword(node, "volatile")
        if arg is None or self.ctx.qualified_name(node.func) not in _VARIABLE:
            return
        value = self.ctx.module.code_for_node(arg.value)
        if value == "True":
            advice = "wrap the inference code in `with torch.no_grad():` (or `torch.inference_mode()`) instead"
        else:
            advice = "remove the argument"
        self.report(
            arg,
            f"`volatile={value}` has had no effect since PyTorch 0.4 (gradients are still tracked); {advice}",
        )
