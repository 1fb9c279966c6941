from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.patterns import keyword
from nnlint.rule import Rule

# torch.nn layers that own parameters with their default arguments.
_PARAMETRISED = frozenset(
    f"torch.nn.{name}"
    for name in (
        "Linear Bilinear LazyLinear Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d "
        "ConvTranspose3d LazyConv1d LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d "
        "LazyConvTranspose3d BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d "
        "LazyBatchNorm3d SyncBatchNorm LayerNorm GroupNorm RMSNorm Embedding EmbeddingBag RNN LSTM "
        "GRU RNNCell LSTMCell GRUCell MultiheadAttention Transformer TransformerEncoder "
        "TransformerDecoder TransformerEncoderLayer TransformerDecoderLayer PReLU "
        "AdaptiveLogSoftmaxWithLoss"
    ).split()
)
# Parameter-free unless asked: InstanceNorm has affine=False by default.
_AFFINE_OPT_IN = frozenset(
    f"torch.nn.{name}"
    for name in "InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d LazyInstanceNorm2d LazyInstanceNorm3d".split()
)
_BATCH_NORMS = frozenset(n for n in _PARAMETRISED if "BatchNorm" in n)
# Calls on `self...` that keep what they are given: lazily built layers are registered this way.
_KEEPING_METHODS = frozenset(
    {"add_module", "register_module", "append", "extend", "insert", "update", "setdefault", "__setitem__"}
)


def _rooted_at_self(node: cst.BaseExpression) -> bool:
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return isinstance(node, cst.Name) and node.value == "self"


def _is_false(arg: cst.Arg | None) -> bool:
    return arg is not None and isinstance(arg.value, cst.Name) and arg.value.value == "False"


def _is_true(arg: cst.Arg | None) -> bool:
    return arg is not None and isinstance(arg.value, cst.Name) and arg.value.value == "True"


def _keeping_call(node: cst.CSTNode) -> bool:
    """``self.add_module(...)``, ``self.cache.setdefault(...)``, ``setattr(self, ...)``."""
    if not isinstance(node, cst.Call):
        return False
    func = node.func
    if isinstance(func, cst.Attribute):
        return func.attr.value in _KEEPING_METHODS and _rooted_at_self(func.value)
    return (
        isinstance(func, cst.Name)
        and func.value == "setattr"
        and bool(node.args)
        and _rooted_at_self(node.args[0].value)
    )


class LayerConstructedInForward(Rule):
    code = "NN107"
    name = "layer-constructed-in-forward"
    summary = "a layer with parameters (`nn.Linear`, `nn.Conv2d`, norms, ...) is built inside `forward`"
    what = (
        "Flags the construction of a `torch.nn` layer that owns parameters -- `nn.Linear`, "
        "`nn.Conv*`, batch / layer / group norms, `nn.Embedding`, RNNs, attention, `nn.PReLU` -- "
        "inside the `forward` method of an `nn.Module` subclass. Parameter-free modules "
        "(`nn.ReLU()`, `nn.Identity()`, `nn.Dropout()`, losses) and layers built lazily and stored "
        "on `self` (`self.norm = nn.LayerNorm(...)`, `self.add_module(...)`) are left alone, as are "
        "norms built with `affine=False` / `elementwise_affine=False`."
    )
    why = (
        "A layer built in `forward` gets fresh random weights on every call and belongs to no "
        "module: the optimizer never sees its parameters, so it never learns, `state_dict()` does "
        "not save it, `model.to(device)` does not move it (it is created on the CPU), and each "
        "call pays for a new allocation and initialisation."
    )
    use_instead = (
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.proj = nn.Linear(16, 8)\n\n    def forward(self, x):\n        return self.proj(x)\n"
    )
    VALID = [
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.proj = nn.Linear(16, 8)\n\n    def forward(self, x):\n        return self.proj(x)\n",
        # Parameter-free modules.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x, y):\n        x = nn.ReLU()(x)\n        x = nn.Identity()(x)\n        x = nn.Dropout(0.1)(x)\n        return nn.CrossEntropyLoss()(x, y)\n",
        # Lazily built and registered on self.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.norm = None\n\n    def forward(self, x):\n        if self.norm is None:\n            self.norm = nn.LayerNorm(x.shape[-1]).to(x.device)\n        return self.norm(x)\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        key = str(x.shape[-1])\n        if key not in self._modules:\n            layer = nn.Linear(x.shape[-1], 8)\n            self.add_module(key, layer)\n        return self._modules[key](x)\n",
        # No affine parameters.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        x = nn.LayerNorm(x.shape[-1], elementwise_affine=False)(x)\n        return nn.InstanceNorm2d(8)(x)\n",
        # __init__ and non-Module classes.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n\nclass Builder:\n    def forward(self, x):\n        return nn.Linear(2, 2)\n",
    ]
    INVALID = [
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        x = nn.Linear(16, 8)(x)  # error\n        return x\n",
        "import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        norm = nn.LayerNorm(x.shape[-1])  # error\n        conv = nn.Conv2d(3, 8, 3).to(x.device)  # error\n        return conv(norm(x))\n",
        "from torch.nn import Module as M, BatchNorm2d as BN, Embedding\n\nclass Base(M):\n    pass\n\nclass Net(Base):\n    def forward(self, ids, x):\n        emb = Embedding(100, 8)  # error\n        return emb(ids), BN(8)(x)  # error\n",
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        head = nn.Sequential(\n            nn.Linear(8, 8),  # error\n            nn.ReLU(),\n        )\n        return head(x)\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._forward: cst.FunctionDef | None = None
        self._candidates: list[tuple[cst.Call, str, str | None]] = []  # (call, layer, local name)
        self._kept: set[str] = set()  # locals stored on self in forward

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._forward is not None or node.name.value != "forward":
            return
        owner = self.ctx.method_scopes
        if owner is None or owner[1] is not node:
            return
        info = self.ctx.facts.class_of_node.get(owner[0])
        if info is not None and self.ctx.is_module_class(info):
            self._forward = node

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node is not self._forward:
            return
        for call, layer, local in self._candidates:
            if local is not None and local in self._kept:
                continue
            short = layer.rpartition(".")[2]
            self.report(
                call,
                f"`{short}` is built inside `forward`: it gets new random weights on every call and the "
                f"optimizer never sees them; create it once in `__init__` (`self.{short.lower()} = "
                f"nn.{short}(...)`) and call that in `forward`",
            )
        self._forward, self._candidates, self._kept = None, [], set()

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._forward is not None and isinstance(node.value, cst.Name):
            if any(_rooted_at_self(t.target) for t in node.targets):
                self._kept.add(node.value.value)

    def visit_Call(self, node: cst.Call) -> None:
        if self._forward is None:
            return
        owner = self.ctx.method_scopes
        if owner is None or owner[1] is not self._forward:
            return  # a class defined inside forward
        if _keeping_call(node):
            self._kept.update(a.value.value for a in node.args if isinstance(a.value, cst.Name))
            return
        layer = self.ctx.qualified_name(node.func)
        if layer is None or not self._has_parameters(layer, node):
            return
        statement = self.ctx.statements[-1] if self.ctx.statements else None
        local: str | None = None
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, (cst.Assign, cst.AnnAssign)):
                    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                    if any(_rooted_at_self(t) for t in targets):
                        return  # built lazily and stored on self
                    if len(targets) == 1 and isinstance(targets[0], cst.Name):
                        local = targets[0].value
                if self._inside_keeping_call(small, node):
                    return
        self._candidates.append((node, layer, local))

    @staticmethod
    def _inside_keeping_call(small: cst.CSTNode, call: cst.Call) -> bool:
        found = False

        def enter(inner: cst.CSTNode) -> bool:
            nonlocal found
            if found:
                return False
            if _keeping_call(inner) and any(n is call for n in walker.iter_nodes(inner)):
                found = True
            return not found

        walker.walk(small, enter)
        return found

    def _has_parameters(self, layer: str, node: cst.Call) -> bool:
        if layer in _AFFINE_OPT_IN:
            return _is_true(keyword(node, "affine"))
        if layer not in _PARAMETRISED:
            return False
        if layer in _BATCH_NORMS:
            return not (_is_false(keyword(node, "affine")) and _is_false(keyword(node, "track_running_stats")))
        return not (_is_false(keyword(node, "affine")) or _is_false(keyword(node, "elementwise_affine")))
