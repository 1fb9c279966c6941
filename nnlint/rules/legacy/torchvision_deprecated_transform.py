from __future__ import annotations

import libcst as cst

from nnlint.names import dotted_name
from nnlint.rule import Invalid, NodeFix, Rule

_TO_TENSOR = "torchvision.transforms.v2.ToTensor"
_V2 = "torchvision.transforms.v2"
_REPLACEMENT = "v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])"


class TorchvisionDeprecatedTransform(Rule):
    code = "NN807"
    tags = frozenset({"deprecated"})
    name = "torchvision-deprecated-transform"
    summary = "torchvision's deprecated `v2.ToTensor`, or `import torchvision.X as X`"
    what = (
        "Flags uses and imports of `torchvision.transforms.v2.ToTensor` (deprecated), and "
        "`import torchvision.models as models` (likewise `datasets`, `transforms`, ...: a "
        "submodule imported under its own name), which is `from torchvision import models` "
        "written the long way (TorchFix's TOR203). Off by default: on application code the "
        "import half is nearly all it finds (77 of 77 findings on the application corpus, "
        "`bench/precision/nn8xx.md`), and it changes nothing but style; turn it on "
        "(`--extend-select NN807`) for parity with TorchFix or to migrate off `v2.ToTensor`."
    )
    why = (
        "`v2.ToTensor` is deprecated and will be removed: it mixes two steps (convert to a "
        "tensor, scale to [0, 1] floats) that the v2 API keeps apart so that each can be placed "
        "and typed explicitly. `import torchvision.models as models` binds the same module as "
        "`from torchvision import models`, which says so directly."
    )
    use_instead = "import torch\nfrom torchvision import models\nfrom torchvision.transforms import v2\n\nto_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])\n"
    fix_safety = (
        "Safe for the import (`from torchvision import models` binds the same module). Unsafe "
        "for `v2.ToTensor()` -> `v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, "
        "scale=True)])`: the values are the same, but the result is a `tv_tensors.Image` instead "
        "of a plain tensor, which later v2 transforms treat as the image to transform."
    )
    fix_availability = "safe"
    default_enabled = False
    triggers = ("torchvision",)
    VALID = [
        "import torch\nfrom torchvision.transforms import v2\n\nt = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])\n",
        # The v1 ToTensor is not deprecated.
        "from torchvision import transforms\n\nt = transforms.ToTensor()\n",
        "import torchvision.models as tvm\nimport torchvision\nfrom torchvision import models\n",
    ]
    INVALID = [
        Invalid(
            "import torchvision.transforms as transforms  # error\nimport torchvision.datasets as datasets  # error\n",
            fixed="from torchvision import transforms  # error\nfrom torchvision import datasets  # error\n",
        ),
        Invalid(
            "import torch\nfrom torchvision.transforms import v2\n\npipeline = v2.Compose([v2.RandomResizedCrop(224), v2.ToTensor()])  # error\n",
            fixed="import torch\nfrom torchvision.transforms import v2\n\npipeline = v2.Compose([v2.RandomResizedCrop(224), v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])])  # error\n",
        ),
        "from torchvision.transforms.v2 import ToTensor  # error\n\nt = ToTensor()  # error\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._handled: set[int] = set()

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None or alias.asname is None or not isinstance(alias.asname.name, cst.Name):
                continue
            package, _, sub = full.rpartition(".")
            if package != "torchvision" or alias.asname.name.value != sub:
                continue
            fix = None
            if len(node.names) == 1:
                fix = NodeFix(f"use `from torchvision import {sub}`", "safe", ((node, f"from torchvision import {sub}"),))
            self.report(alias, f"`import torchvision.{sub} as {sub}` is `from torchvision import {sub}` written the long way; use that", fix)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        if dotted_name(node.module) != _V2:
            return
        for alias in node.names:
            if isinstance(alias.name, cst.Name) and alias.name.value == "ToTensor":
                self._handled.add(id(alias.name))
                self.report(alias, self._message())

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, (cst.Name, cst.Attribute)) or self.ctx.qualified_name(func) != _TO_TENSOR:
            return
        self._handled.add(id(func))
        fix = None
        if not node.args and isinstance(func, cst.Attribute):
            v2 = self.ctx.module.code_for_node(func.value)
            text = _REPLACEMENT.replace("v2.", f"{v2}.")
            fix = NodeFix("use `v2.ToImage()` and `v2.ToDtype(torch.float32, scale=True)`", "unsafe", ((node, text),), ("import torch",))
        self.report(node, self._message(), fix)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if id(node) in self._handled or node.attr.value != "ToTensor" or self.ctx.qualified_name(node) != _TO_TENSOR:
            return
        self.report(node, self._message())

    @staticmethod
    def _message() -> str:
        return (
            "`v2.ToTensor` is deprecated and will be removed; use "
            "`v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])`"
        )
