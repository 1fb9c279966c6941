from __future__ import annotations

import libcst as cst

from nnlint.notebooks import is_displayed
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.tensors import tensor_dataflows

# Tensor methods that return a new tensor and leave the receiver unchanged.
_CONVERSIONS = frozenset(
    "to cuda cpu float double half bfloat16 long int short bool byte char type pin_memory".split()
)
_OUT_OF_PLACE = frozenset(
    "detach clone contiguous view reshape unsqueeze squeeze permute transpose t flatten expand "
    "repeat add sub mul div clamp clip abs neg exp log sqrt pow sigmoid tanh relu round floor "
    "ceil masked_fill".split()
)
# Those with an in-place twin (`x.unsqueeze_(0)`), worth suggesting.
_WITH_INPLACE_TWIN = frozenset(
    "detach unsqueeze squeeze t transpose add sub mul div clamp clip abs neg exp log sqrt pow "
    "sigmoid tanh relu round floor ceil masked_fill".split()
)
_SHORT = 40


class TensorOpResultDiscarded(Rule):
    code = "NN501"
    tags = frozenset({"unnecessary"})
    name = "tensor-op-result-discarded"
    summary = "`x.to(...)` / `x.cuda()` / `x.float()` / `x.detach()` ... on a tensor as a statement: the result is lost"
    what = (
        "Flags a statement that calls a tensor method returning a new tensor -- `.to(...)`, "
        "`.cuda()`, `.cpu()`, `.float()` and the other dtype conversions, `.detach()`, `.clone()`, "
        "`.contiguous()`, `.unsqueeze()`, `.view()`, `.add()`, ... -- and drops the result, when "
        "the receiver is known to be a tensor: the result of a torch factory or torch function or "
        "of the legacy `torch.autograd.Variable(...)` wrapper (a plain tensor since torch 0.4), a "
        "parameter annotated `torch.Tensor`, or a variable assigned from one. Modules "
        "(`model.to(device)` moves the module in place) and receivers nnlint cannot identify are "
        "left alone, and so is the last line of a notebook cell, which Jupyter displays (unless "
        "it ends in `;`)."
    )
    why = (
        "Unlike `nn.Module.to()`, which moves the module's parameters in place, `Tensor.to()` and "
        "the other out-of-place methods return a new tensor and leave the original untouched. "
        "`x.to(device)` on its own line does nothing: `x` stays on the CPU (or keeps its dtype, "
        "its shape, its graph), and the next operation fails with `Expected all tensors to be on "
        "the same device` -- or silently computes with the wrong values."
    )
    use_instead = "import torch\n\nx = torch.zeros(3)\nx = x.to('cuda')\n"
    fix_safety = (
        "Safe when the receiver is a plain variable: `x = x.to(...)` keeps the result the author "
        "meant to keep. No fix for other receivers (`self.buf`, `x[0]`), whose owner must be told."
    )
    fix_availability = "safe"
    VALID = [
        # Modules are moved in place.
        "import torch.nn as nn\n\nmodel = nn.Linear(2, 2)\nmodel.to('cuda')\nmodel.float()\n",
        # Unknown receivers: a batch from a loader may be an object whose `.to()` works in place.
        "def fit(model, loader, device):\n    for batch in loader:\n        batch.to(device)\n        model(batch)\n",
        "import torch\n\ndef f(device):\n    x = torch.zeros(3)\n    x = x.to(device)\n    y = x.cuda()\n    return x, y\n",
        # The variable was re-bound to something else on one branch: not known to be a tensor.
        "import torch\n\ndef f(model, device, flag):\n    x = torch.zeros(3)\n    if flag:\n        x = model\n    x.to(device)\n",
        # In-place methods change the tensor.
        "import torch\n\nx = torch.zeros(3)\nx.add_(1)\nx.requires_grad_()\nx.unsqueeze_(0)\n",
        # Another library's `Variable` (TensorFlow's `.to()` is not torch's); the result kept.
        "from tensorflow import Variable\n\nv = Variable(0.0)\nv.to('gpu')\n",
        "import torch\nfrom torch.autograd import Variable\n\nx = Variable(torch.randn(3))\nx = x.cuda()\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\ndef prepare(device):\n    x = torch.randn(4, 3)\n    x.to(device)  # error\n    return x\n",
            fixed="import torch\n\ndef prepare(device):\n    x = torch.randn(4, 3)\n    x = x.to(device)  # error\n    return x\n",
        ),
        Invalid(
            "import torch\n\ndef scale(mask: torch.Tensor, device):\n    mask.cuda(); mask.float()  # error\n    return mask\n",
            fixed="import torch\n\ndef scale(mask: torch.Tensor, device):\n    mask = mask.cuda(); mask = mask.float()  # error\n    return mask\n",
        ),
        Invalid(
            "from typing import Optional\nfrom torch import Tensor\n\ndef attend(scores: Optional[Tensor], mask: Tensor | None = None):\n    if mask is not None:\n        mask.unsqueeze(1)  # error\n    coords = scores.clone()\n    coords[..., 0] = coords[..., 0] / 2\n    coords.to(float)  # error\n    return coords\n",
            fixed="from typing import Optional\nfrom torch import Tensor\n\ndef attend(scores: Optional[Tensor], mask: Tensor | None = None):\n    if mask is not None:\n        mask = mask.unsqueeze(1)  # error\n    coords = scores.clone()\n    coords[..., 0] = coords[..., 0] / 2\n    coords = coords.to(float)  # error\n    return coords\n",
        ),
        # No fix when the receiver is not a plain variable.
        "import torch\n\nimages = torch.zeros(2, 3)\nimages[0].detach()  # error\n",
        # `Variable(...)` returns a tensor (since torch 0.4), however it is imported.
        Invalid(
            "import torch\nfrom torch.autograd import Variable\n\ndef step(batch, use_cuda):\n    x = Variable(torch.randn(3))\n    if use_cuda:\n        x.cuda()  # error\n    noise = torch.autograd.Variable(batch).float()\n    noise.cuda()  # error\n    return x, noise\n",
            fixed="import torch\nfrom torch.autograd import Variable\n\ndef step(batch, use_cuda):\n    x = Variable(torch.randn(3))\n    if use_cuda:\n        x = x.cuda()  # error\n    noise = torch.autograd.Variable(batch).float()\n    noise = noise.cuda()  # error\n    return x, noise\n",
        ),
        "from torch.autograd import Variable as V\n\ndef prepare(data):\n    inputs = V(data)\n    inputs.cuda()  # error\n    return inputs\n",
    ]

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
            return
        method = call.func.attr.value
        if method not in _CONVERSIONS and method not in _OUT_OF_PLACE:
            return
        if method == "type" and not call.args:
            return  # `x.type()` returns the type's name
        receiver = call.func.value
        if not tensor_dataflows(self.ctx).is_tensor_before(node, receiver):
            return
        if is_displayed(self.ctx, node):
            return  # a notebook cell's last line: Jupyter shows the value
        receiver_code = self.ctx.module.code_for_node(receiver)
        call_code = self.ctx.module.code_for_node(call)
        shown = call_code if len(call_code) <= _SHORT else f"{receiver_code}.{method}(...)"
        if method in _CONVERSIONS or method in ("detach", "clone", "contiguous"):
            effect = "returns a new tensor and leaves the original as it was (tensors are not converted in place, unlike modules)"
        else:
            effect = f"returns a new tensor and does not change `{receiver_code}`"
        instead = f"`{receiver_code} = {shown}`"
        if method in _WITH_INPLACE_TWIN and method != "detach":
            instead += f" (or the in-place `{receiver_code}.{method}_(...)`)"
        fix = None
        if isinstance(receiver, cst.Name):
            fix = NodeFix(
                f"assign the result back to `{receiver.value}`",
                "safe",
                ((node, f"{receiver.value} = {call_code}"),),
            )
        self.report(
            node,
            f"the result of `{shown}` is thrown away: `.{method}()` {effect}; write {instead}",
            fix=fix,
        )
