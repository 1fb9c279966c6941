from __future__ import annotations

import libcst as cst

from nnlint.names import dotted_name
from nnlint.rule import Rule

# Where writing through `.data` is initialisation, not training.
_INIT_WORDS = ("init", "reset_parameters", "load", "from_pretrained", "convert", "copy_weights")
# Receivers that are parameters or gradients by name.
_PARAMETER_NAMES = frozenset({"weight", "bias", "grad"})
_PARAMETER_ITERATORS = frozenset({"parameters", "named_parameters"})


def _data_receiver(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` for ``x.data``, else None."""
    if isinstance(node, cst.Attribute) and node.attr.value == "data":
        return node.value
    return None


class LegacyDataAttribute(Rule):
    code = "NN806"
    name = "legacy-data-attribute"
    summary = "a write through `.data` outside initialisation code"
    what = (
        "Flags in-place tensor methods called on `.data` (`p.data.add_(...)`, "
        "`w.data.clamp_(...)`, `p.grad.data.zero_()`) and assignments to or through the `.data` "
        "of a parameter or gradient (`p.data = ...`, `layer.weight.data[...] = ...`, "
        "`p.data -= lr * p.grad`; a parameter being a `.weight` / `.bias` / `.grad` attribute or "
        "the loop variable over `.parameters()`), outside `__init__` and initialisation helpers "
        "(functions whose name contains `init`, `reset_parameters`, `load`, `convert`). Off by "
        "default: most such writes are harmless legacy style (weight clipping after the step, "
        "manual SGD updates); NN502 flags the ones that corrupt a pending backward pass."
    )
    why = (
        "`.data` is the pre-0.4 way to reach a tensor's storage behind autograd's back: a write "
        "through it is not recorded and does not bump the tensor's version counter, so a "
        "backward pass that saved the old values silently computes wrong gradients instead of "
        "raising. `with torch.no_grad():` and the tensor itself (or `.detach()`) do the same "
        "job and keep the version check."
    )
    use_instead = (
        "import torch\n\nwith torch.no_grad():\n    for p in model.parameters():\n        p.clamp_(-0.01, 0.01)\n"
    )
    default_enabled = False
    triggers = ("data",)
    VALID = [
        "import torch\n\nwith torch.no_grad():\n    for p in critic.parameters():\n        p.clamp_(-0.01, 0.01)\n",
        # Initialisation code.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n        self.fc.weight.data.normal_(0, 0.02)\n\n    def _init_weights(self, m):\n        m.bias.data.zero_()\n",
        # Reading `.data` is not a write; a dataset's `.data` is not a tensor's.
        "x = p.data.clone()\ndataset.data = dataset.data[:100]\n",
    ]
    INVALID = [
        "import torch\n\nfor epoch in range(10):\n    train(critic)\n    for p in critic.parameters():\n        p.data.clamp_(-0.01, 0.01)  # error\n",
        "def sgd_step(model, lr):\n    for p in model.parameters():\n        p.data -= lr * p.grad.data  # error\n        p.grad.data.zero_()  # error\n",
        "def update_ema(ema, model, decay):\n    for e, m in zip(ema.parameters(), model.parameters()):\n        e.data = decay * e.data + (1 - decay) * m.data\n    ema.head.weight.data[0] = 0  # error\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._parameter_loops: list[set[str]] = []

    def _in_init(self) -> bool:
        function = self.ctx.enclosing_function
        if function is None:
            return False
        name = function.name.value.lower()
        return any(word in name for word in _INIT_WORDS)

    def visit_For(self, node: cst.For) -> None:
        names: set[str] = set()
        it = node.iter
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and it.func.attr.value in _PARAMETER_ITERATORS:
            target = node.target
            if isinstance(target, cst.Name):
                names.add(target.value)
            elif isinstance(target, cst.Tuple) and target.elements and isinstance(target.elements[-1].value, cst.Name):
                names.add(target.elements[-1].value.value)  # type: ignore[attr-defined]
        self._parameter_loops.append(names)

    def leave_For(self, node: cst.For) -> None:
        self._parameter_loops.pop()

    def _is_parameter(self, receiver: cst.BaseExpression) -> bool:
        if isinstance(receiver, cst.Attribute):
            return receiver.attr.value in _PARAMETER_NAMES
        if isinstance(receiver, cst.Name):
            return any(receiver.value in names for names in self._parameter_loops)
        return False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or not func.attr.value.endswith("_") or func.attr.value.startswith("_"):
            return
        receiver = _data_receiver(func.value)
        if receiver is None or self._in_init():
            return
        self._report(node, f"`{dotted_name(func) or '.data.' + func.attr.value}(...)`", func.attr.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check_target(target.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check_target(node.target)

    def _check_target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Subscript):
            target = target.value
        receiver = _data_receiver(target)
        if receiver is None or not self._is_parameter(receiver) or self._in_init():
            return
        self._report(target, "a write through `.data`", None)

    def _report(self, node: cst.CSTNode, what: str, method: str | None) -> None:
        instead = f"`.{method}(...)` on the tensor itself" if method else "the write on the tensor itself"
        self.report(
            node,
            f"{what} bypasses autograd's version tracking (a pending backward pass would use the changed "
            f"values silently); do {instead} inside `with torch.no_grad():`",
        )
