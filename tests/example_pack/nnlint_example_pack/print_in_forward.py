from __future__ import annotations

import libcst as cst

from nnlint.rule import Rule


class PrintInForward(Rule):
    code = "XMP001"
    name = "print-in-forward"
    summary = "`print()` inside a module's `forward`"
    what = "Flags calls to the builtin `print` in the `forward` method of a Module class."
    why = (
        "`forward` runs on every training and inference step: a `print` there floods the logs, "
        "forces a device sync when it formats a CUDA tensor, and breaks `torch.compile` graphs."
    )
    VALID = [
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n        print('built')\n\n    def forward(self, x):\n        return x\n",
        "class Plain:\n    def forward(self, x):\n        print(x)\n",
    ]
    INVALID = [
        "import torch.nn as nn\n\nclass Model(nn.Module):\n    def forward(self, x):\n        print(x.shape)  # error\n        return x\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not (isinstance(node.func, cst.Name) and node.func.value == "print"):
            return
        function = self.ctx.enclosing_function
        info = self.ctx.method_class
        if function is None or function.name.value != "forward" or info is None or not self.ctx.in_module_method():
            return
        self.report(
            node,
            f"`print()` in `{info.name}.forward` runs on every step; log from a forward hook or "
            "behind a debug flag instead",
        )
