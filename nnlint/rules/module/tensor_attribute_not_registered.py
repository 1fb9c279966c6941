from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.patterns import (
    LIGHTNING_MODULES,
    TENSOR_CHAIN_METHODS,
    derives_from,
    inner_blocks,
    module_construction,
    same_file_relatives,
    self_attribute,
    strip_chain,
    suite_statements,
    tensor_factory_call,
)
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.semantic import ClassInfo

# A class that moves its own tensors handles device placement itself.
_CUSTOM_DEVICE_METHODS = frozenset({"_apply", "to", "cuda"})
# Wrapping a tensor in one of these registers it when it is assigned to `self`.
_REGISTERING_CLASSES = frozenset(
    f"torch.nn.{prefix}{name}"
    for prefix in ("", "parameter.")
    for name in ("Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer")
)
_REGISTER_METHODS = frozenset({"register_buffer", "register_parameter"})
# A read of the attribute followed at once by one of these puts it where it is needed.
_MOVES = frozenset({"to", "cuda", "type_as"})
_DTYPE_NAMES = frozenset(
    "float float32 float64 double float16 half bfloat16 int int8 int16 int32 int64 long short uint8 "
    "bool complex64 complex128 cfloat cdouble".split()
)
# Methods that work on any device, so `self.x.unsqueeze(0).expand(b, -1).to(dev)` still moves x first.
_VIEWS = frozenset(
    "unsqueeze squeeze expand expand_as view view_as reshape flatten unflatten t transpose permute "
    "contiguous clone detach repeat long float int double half bool".split()
)
# Conversions that keep a 0-dim tensor on the CPU.
_DTYPE_CONVERSIONS = frozenset("float double half bfloat16 long int short bool byte char".split())
_SCALAR_TENSOR_FACTORIES = frozenset({"torch.tensor", "torch.as_tensor", "torch.scalar_tensor"})
_SHAPED_FACTORIES = frozenset(f"torch.{n}" for n in "zeros ones empty full rand randn".split())
_SCALAR_BUILTINS = frozenset({"float", "int", "abs", "round", "min", "max"})
_LIGHTNING_ATTRIBUTES = frozenset({"example_input_array"})
_MAX_CALL_DEPTH = 3


def _path_to(statements: list[cst.CSTNode], line: cst.CSTNode) -> list[tuple[list[cst.CSTNode], int]] | None:
    """The chain of (statement list, index) from ``statements`` down to the one holding ``line``."""
    for index, stmt in enumerate(statements):
        if stmt is line:
            return [(statements, index)]
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite, cst.FunctionDef, cst.ClassDef)):
            continue
        for block in inner_blocks(stmt):
            inner = _path_to(block, line)
            if inner is not None:
                return [(statements, index), *inner]
    return None


def _peel_views(node: cst.BaseExpression) -> tuple[cst.BaseExpression, list[cst.CSTNode]]:
    """Peel what works on any device before a move: shape and dtype methods
    (`x.unsqueeze(0).expand(b, -1)`) and indexing by slices and integer literals (`x[:, :n]`).
    Indexing by anything else (`x[t]`, `t` a tensor on the GPU) is not peeled. Returns the base
    and the peeled parts' arguments."""
    parts: list[cst.CSTNode] = []
    while True:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _VIEWS:
            parts.extend(node.args)
            node = node.func.value
        elif isinstance(node, cst.Subscript) and all(_plain_index(e.slice) for e in node.slice):
            parts.extend(node.slice)
            node = node.value
        else:
            return node, parts


def _plain_index(index: cst.BaseSlice) -> bool:
    if isinstance(index, cst.Slice):
        return True
    value = index.value  # type: ignore[attr-defined]
    if isinstance(value, cst.UnaryOperation):
        value = value.expression
    return isinstance(value, (cst.Integer, cst.Ellipsis)) or (isinstance(value, cst.Name) and value.value == "None")


def _is_self_attr(node: cst.BaseExpression, attr: str) -> bool:
    return self_attribute(node) == attr


def _string(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


class TensorAttributeNotRegistered(Rule):
    code = "NN103"
    name = "tensor-attribute-not-registered"
    triggers = ("torch",)  # every tensor factory it knows is a `torch.` name
    summary = "a plain tensor stored on `self` in a Module's `__init__` (neither buffer nor Parameter)"
    what = (
        "Flags `self.x = torch.randn(...)` -- any torch tensor factory, `torch.tensor`, "
        "`torch.Tensor(...)`, `torch.from_numpy`, optionally followed by `.to()`, `.cuda()`, "
        "`.float()` and the like -- in the `__init__` of an `nn.Module` subclass.\n\n"
        "Deliberately silent on: a temporary that every path through `__init__` then wraps "
        "(`self.w = nn.Parameter(self.w)`, `nn.Buffer(...)`, `self.register_buffer('w', ...)`, also "
        "in a method `__init__` calls); a 0-dim constant that nothing writes to again "
        "(`self.scale = torch.tensor(0.125)`, `torch.tensor(1 / temperature)`, `torch.ones(())`: a 0-dim "
        "CPU tensor combines with tensors on any device, so not following `.to()` is harmless; "
        "`requires_grad=True` or a `device=` keeps the finding); Lightning's "
        "`self.example_input_array` in a `LightningModule` (Lightning reads it and moves it itself); "
        "and an attribute moved explicitly at every read outside `__init__` in the class and its "
        "same-file relatives (`self.z.to(x.device)`, `self.z.type_as(w)`, `self.z.cuda()`, also "
        "after shape methods and slicing, `self.z.unsqueeze(0).expand(b, -1).to(dev)`, "
        "`self.pe[:, :n].to(dev)`; `.to(<dtype>)` and `self.z[idx].to(...)` -- indexing by a "
        "tensor that may be on the GPU -- do not count, and an attribute never read in the "
        "class keeps the finding: its readers are elsewhere).\n\n"
        "Still flagged: a tensor wrapped in `nn.Parameter` on some paths only (`self.logvar = "
        "torch.full(...)` then `if learn: self.logvar = nn.Parameter(self.logvar)`): when the "
        "condition is false the attribute stays a plain tensor, with every problem below; the "
        "message says so."
    )
    why = (
        "A plain tensor attribute is invisible to the module: `model.to(device)` and `model.cuda()` "
        "leave it behind (the classic `Expected all tensors to be on the same device`), "
        "`state_dict()` does not save it, and `model.half()` does not convert it."
    )
    use_instead = (
        "class MyModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.register_buffer(\"my_tensor\", torch.randn(1))\n"
    )
    fix_safety = (
        "Unsafe: `self.register_buffer(\"x\", ..., persistent=False)` keeps state_dict keys unchanged, "
        "but code that relied on the tensor staying on the CPU, or on re-assigning it with a "
        "non-tensor, behaves differently."
    )
    fix_availability = "unsafe"
    VALID = [
        "import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.register_buffer('my_buffer', torch.randn(1))\n        self.weight = nn.Parameter(torch.randn(3, 3))\n",
        # Locals in forward are fine.
        "import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def forward(self, x):\n        noise = torch.randn(1)\n        return x + noise\n",
        # Not a Module class.
        "import torch\n\nclass Sampler:\n    def __init__(self):\n        self.state = torch.zeros(3)\n",
        # The class moves its own tensors.
        "import torch\nimport torch.nn as nn\n\nclass Cache(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.keys = torch.zeros(3)\n\n    def _apply(self, fn, recurse=True):\n        self.keys = fn(self.keys)\n        return super()._apply(fn, recurse)\n",
        # A temporary that every path wraps: both branches, an elif chain ending in raise, a helper.
        "import torch\nimport torch.nn as nn\n\nclass Layer(nn.Module):\n    def __init__(self, scaled, kind):\n        super().__init__()\n        self.w = torch.empty(3, 4)\n        nn.init.xavier_uniform_(self.w)\n        if scaled:\n            self.w = nn.Parameter(self.w)\n        else:\n            self.w = nn.Parameter(self.w * 2)\n        self.b = torch.zeros(4)\n        if kind == 'learned':\n            self.b = nn.Parameter(self.b)\n        elif kind == 'fixed':\n            self.register_buffer('b', self.b.clone())\n        else:\n            raise ValueError(kind)\n        self.g = torch.ones(4); self.g = nn.Parameter(self.g)\n        self.h = torch.ones(4)\n        self._wrap()\n\n    def _wrap(self):\n        self.h = nn.Parameter(self.h)\n",
        # 0-dim constants (a CPU scalar combines with tensors on any device).
        "import math\nimport torch\nfrom torch import nn\n\nclass Attention(nn.Module):\n    def __init__(self, dim, temperature=0.07):\n        super().__init__()\n        self.scale = torch.tensor(dim ** -0.5)\n        self.loss_weight = torch.tensor(1.0)\n        self.inv_t = torch.tensor(1 / temperature, dtype=torch.float32)\n        self.t = torch.tensor(temperature)\n        self.log2 = torch.as_tensor(math.log(2.0)).float()\n        self.zero = torch.zeros(())\n\n    def forward(self, q, k):\n        return (q @ k.T) * self.scale * self.inv_t / self.t + self.zero\n",
        # Lightning moves `example_input_array` itself.
        "import torch\nimport pytorch_lightning as pl\nimport lightning as L\n\nclass Base(pl.LightningModule):\n    pass\n\nclass Autoencoder(Base):\n    def __init__(self, width):\n        super().__init__()\n        self.example_input_array = torch.zeros(2, 3, width, width)\n\nclass Classifier(L.LightningModule):\n    def __init__(self):\n        super().__init__()\n        self.example_input_array = torch.zeros(1, 784)\n",
        # Moved explicitly at every read outside __init__, in the class and a subclass.
        "import torch\nimport torch.nn as nn\n\nclass GAN(nn.Module):\n    def __init__(self, latent_dim):\n        super().__init__()\n        self.validation_z = torch.randn(8, latent_dim)\n        self.prefix = torch.arange(4).long()\n        self.generator = nn.Linear(latent_dim, 16)\n\n    def sample(self):\n        return self.generator(self.validation_z.type_as(self.generator.weight))\n\n    def forward(self, x):\n        b = x.size(0)\n        tokens = self.prefix.unsqueeze(0).expand(b, -1).to(x.device)\n        return x + tokens + self.prefix[:, :4].to(device=x.device, dtype=x.dtype)\n\nclass CudaGAN(GAN):\n    def sample(self):\n        return self.generator(self.validation_z.cuda())\n",
    ]
    INVALID = [
        Invalid(
            "import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def __init__(self):\n        super(MyModel, self).__init__()\n        self.my_tensor = torch.randn(1)  # error\n        self.register_buffer('my_buffer', torch.randn(1))\n",
            fixed="import torch\nimport torch.nn as nn\n\nclass MyModel(nn.Module):\n    def __init__(self):\n        super(MyModel, self).__init__()\n        self.register_buffer('my_tensor', torch.randn(1), persistent=False)  # error\n        self.register_buffer('my_buffer', torch.randn(1))\n",
        ),
        "import torch\nfrom torch import nn\n\nclass PositionalEncoding(nn.Module):\n    def __init__(self, n, device):\n        super().__init__()\n        self.pe = torch.zeros(n, 16).to(device)  # error\n        self.mask: torch.Tensor = torch.ones(n).bool()  # error\n",
        "import numpy as np\nfrom torch import from_numpy\nfrom torch.nn import Module as M\n\nclass Net(M):\n    def __init__(self):\n        super().__init__()\n        self.table = from_numpy(np.eye(3))  # error\n",
        # Wrapped on one path only: a plain tensor when `learn` is false; a loop may not run.
        "import torch\nimport torch.nn as nn\n\nclass Diffusion(nn.Module):\n    def __init__(self, learn, steps, blocks):\n        super().__init__()\n        self.logvar = torch.full(fill_value=0.0, size=(steps,))  # error\n        if learn:\n            self.logvar = nn.Parameter(self.logvar, requires_grad=True)\n        self.w = torch.zeros(3)  # error\n        for _ in range(blocks):\n            self.w = nn.Parameter(self.w)\n        self.v = torch.zeros(3)  # error\n        self.v = self.v.cuda()\n\n    def forward(self, x, t):\n        return x * self.logvar[t].to(x.device) + self.w + self.v\n",
        # 0-dim, but state (written again, or trained) or not a CPU scalar; `[1.0]` has one dimension.
        "import torch\nimport torch.nn as nn\n\nclass EMA(nn.Module):\n    def __init__(self, decay, names):\n        super().__init__()\n        self.num_updates = torch.tensor(0)  # error\n        self.temperature = torch.tensor(0.07, requires_grad=True)  # error\n        self.bias = torch.tensor([1.0])  # error\n        self.gain = torch.tensor(2.0).cuda()  # error\n        self.decay = torch.tensor(decay)  # error\n        self.weights = torch.tensor(names * 2)  # error\n\n    def update(self):\n        self.num_updates += 1\n",
        # Not moved at every read: `.to(dtype)` keeps the device, indexing happens before the move.
        "import torch\nimport torch.nn as nn\n\nclass Head(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.anchors = torch.rand(n, 4)  # error\n        self.table = torch.rand(n, 4)  # error\n        self.example_input_array = torch.zeros(1, n)  # error\n\n    def forward(self, x, idx):\n        return x + self.anchors.to(torch.float16) + self.table[idx].to(x.device)\n",
    ]

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(node, target.target, node.value, single=len(node.targets) == 1)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check(node, node.target, node.value, single=True)

    def _check(self, statement: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression, single: bool) -> None:
        attr = self_attribute(target)
        if attr is None:
            return
        function = self.ctx.enclosing_function
        if function is None or function.name.value != "__init__":
            return
        info = self.ctx.method_class
        if info is None or not self.ctx.is_module_class(info) or _CUSTOM_DEVICE_METHODS & info.methods.keys():
            return
        factory = tensor_factory_call(self.ctx, value)
        if factory is None:
            return
        if attr in _LIGHTNING_ATTRIBUTES and derives_from(self.ctx, info, LIGHTNING_MODULES):
            return  # Lightning reads `example_input_array` for summaries and moves it itself
        relatives = same_file_relatives(self.ctx, info)
        if self._zero_dim_constant(value, function) and not self._written_again(relatives, attr, statement):
            return
        line = self.ctx.statements[-1] if self.ctx.statements else None
        every, some = self._wrapped_later(info, function, line, statement, attr)
        if every:
            return
        if self._moved_at_every_read(relatives, attr, function):
            return
        short = factory.rpartition(".")[2]
        if some:
            where = (
                f"is wrapped in a Parameter / registered on some paths of `{info.name}.__init__` only: "
                f"on the others it stays a plain tensor (from `torch.{short}`) that"
            )
        else:
            where = f"in `{info.name}.__init__` is a plain tensor (from `torch.{short}`): it"
        self.report(
            target,
            f"`self.{attr}` {where} does not follow `.to()`/`.cuda()` and is not in `state_dict()`; use "
            f"`self.register_buffer(\"{attr}\", ...)`, or `nn.Parameter(...)` if it should be trained",
            fix=self._fix(statement, attr, value) if single else None,
        )

    def _fix(self, statement: cst.CSTNode, attr: str, value: cst.BaseExpression) -> NodeFix:
        code = self.ctx.module.code_for_node(value)
        return NodeFix(
            f"register `{attr}` as a non-persistent buffer",
            "unsafe",
            ((statement, f"self.register_buffer({attr!r}, {code}, persistent=False)"),),
        )

    # -- wrapped later on every path -------------------------------------------------------

    def _wrapped_later(
        self, info: ClassInfo, init: cst.FunctionDef, line: cst.CSTNode | None, statement: cst.CSTNode, attr: str
    ) -> tuple[bool, bool]:
        """(every path after ``statement`` registers ``self.<attr>``, some path does)."""
        if line is None or not isinstance(init.body, cst.IndentedBlock):
            return False, False
        path = _path_to(list(init.body.body), line)
        if path is None:
            return False, False
        every = False
        smalls = list(getattr(line, "body", ()))
        rest = smalls[smalls.index(statement) + 1 :] if statement in smalls else []
        if self._registers_in_line(rest, info, attr, 0):
            every = True
        else:
            for statements, index in reversed(path):
                if self._definitely(statements[index + 1 :], info, attr, 0):
                    every = True
                    break
        if every:
            return True, True
        some = False
        seen = False

        def enter(node: cst.CSTNode) -> bool:
            nonlocal some, seen
            if some:
                return False
            if node is statement:
                seen = True
                return False
            if isinstance(node, cst.BaseSmallStatement):
                if seen and self._registers(node, info, attr, _MAX_CALL_DEPTH):
                    some = True
                return False
            return not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.BaseExpression)) or node is init

        walker.walk(init, enter)
        return False, some

    def _definitely(self, statements: list[cst.CSTNode], info: ClassInfo, attr: str, depth: int) -> bool:
        """Whether running ``statements`` in order certainly registers ``self.<attr>`` (or raises)."""
        for stmt in statements:
            if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                verdict = self._line_verdict(stmt.body, info, attr, depth)
                if verdict is not None:
                    return verdict
            elif isinstance(stmt, cst.If):
                orelse = stmt.orelse
                if orelse is not None and self._definitely(suite_statements(stmt.body), info, attr, depth):
                    other = [orelse] if isinstance(orelse, cst.If) else suite_statements(orelse.body)
                    if self._definitely(other, info, attr, depth):
                        return True
            elif isinstance(stmt, cst.With):
                if self._definitely(suite_statements(stmt.body), info, attr, depth):
                    return True
            elif isinstance(stmt, cst.Try):
                final = stmt.finalbody
                if final is not None and self._definitely(suite_statements(final.body), info, attr, depth):
                    return True
                handlers = [suite_statements(h.body) for h in stmt.handlers]
                body = suite_statements(stmt.body) + (suite_statements(stmt.orelse.body) if stmt.orelse is not None else [])
                if self._definitely(body, info, attr, depth) and all(
                    self._definitely(h, info, attr, depth) for h in handlers
                ):
                    return True
            # Loops may run zero times; nested definitions do not run.
        return False

    def _registers_in_line(self, smalls: list[cst.CSTNode], info: ClassInfo, attr: str, depth: int) -> bool:
        return self._line_verdict(smalls, info, attr, depth) is True

    def _line_verdict(self, smalls: list[cst.CSTNode], info: ClassInfo, attr: str, depth: int) -> bool | None:
        """True: this line registers the attribute (or raises); False: it returns first; None: neither."""
        for small in smalls:
            if isinstance(small, cst.Raise):
                return True  # no module comes out of this path
            if isinstance(small, cst.Return):
                return False
            if self._registers(small, info, attr, depth):
                return True
        return None

    def _registers(self, small: cst.CSTNode, info: ClassInfo, attr: str, depth: int) -> bool:
        """`self.<attr> = nn.Parameter(...)` / `nn.Buffer(...)` / a Module, `self.register_buffer("<attr>", ...)`,
        or a call of a method of the class that certainly does one of these."""
        if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            if any(_is_self_attr(t, attr) for t in targets):
                value = small.value
                if isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in _REGISTERING_CLASSES:
                    return True
                return module_construction(self.ctx, value) is not None
            return False
        if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)):
            return False
        call = small.value
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"):
            return False
        if func.attr.value in _REGISTER_METHODS:
            return bool(call.args) and _string(call.args[0].value) == attr
        method = info.methods.get(func.attr.value)
        if method is None or depth >= _MAX_CALL_DEPTH or method.name.value == "__init__":
            return False
        return self._definitely(suite_statements(method.body), info, attr, depth + 1)

    # -- 0-dim constants -------------------------------------------------------------------

    def _zero_dim_constant(self, value: cst.BaseExpression, init: cst.FunctionDef) -> bool:
        """`torch.tensor(<scalar>)`, `torch.ones(())`, ... left on the CPU and not trained."""
        base, methods = strip_chain(value, TENSOR_CHAIN_METHODS)
        if not isinstance(base, cst.Call) or any(m not in _DTYPE_CONVERSIONS for m in methods):
            return False
        name = self.ctx.qualified_name(base.func)
        positional = [a for a in base.args if a.keyword is None]
        keywords = {a.keyword.value: a.value for a in base.args if a.keyword is not None}
        if any(a.star for a in base.args) or "device" in keywords or "out" in keywords:
            return False
        grad = keywords.get("requires_grad")
        if grad is not None and not (isinstance(grad, cst.Name) and grad.value == "False"):
            return False
        if name in _SCALAR_TENSOR_FACTORIES:
            data = positional[0].value if len(positional) == 1 else keywords.get("data")
            return data is not None and len(positional) <= 1 and self._scalar(data, init)
        if name in _SHAPED_FACTORIES:
            shape = positional[0].value if positional else keywords.get("size")
            return isinstance(shape, (cst.Tuple, cst.List)) and not shape.elements
        return False

    def _scalar(self, expr: cst.BaseExpression, init: cst.FunctionDef) -> bool:
        """A Python number for certain: literals, `math` values, arithmetic on them, and names
        that can only be numbers there (`1 / t`, `d ** -0.5`, a parameter with a number default)."""
        if isinstance(expr, (cst.Integer, cst.Float)):
            return True
        if isinstance(expr, cst.UnaryOperation):
            return not isinstance(expr.operator, cst.Not) and self._scalar(expr.expression, init)
        if isinstance(expr, (cst.Name, cst.Attribute)):
            name = self.ctx.qualified_name(expr)
            if name is not None and name.partition(".")[0] == "math":
                return True
            return isinstance(expr, cst.Name) and self._numeric_parameter(init, expr.value)
        if isinstance(expr, cst.Call):
            name = self.ctx.qualified_name(expr.func)
            if name is None:
                return False
            if name.partition(".")[0] == "math" or name in ("float", "int"):
                return True
            return name in _SCALAR_BUILTINS and bool(expr.args) and all(
                a.keyword is None and not a.star and self._scalar(a.value, init) for a in expr.args
            )
        if isinstance(expr, cst.BinaryOperation):
            left, right = self._scalar(expr.left, init), self._scalar(expr.right, init)
            if left and right:
                return True
            # `1 / t`, `t ** -0.5`, `t - 1`: these raise for a list, so `t` is a number here.
            # (`t * 2` and `t + x` would be fine on lists, so they need both sides known.)
            if isinstance(expr.operator, (cst.Divide, cst.FloorDivide, cst.Power, cst.Subtract)):
                other = expr.right if left else expr.left if right else None
                return other is not None and isinstance(other, (cst.Name, cst.Attribute))
        return False

    @staticmethod
    def _numeric_parameter(init: cst.FunctionDef, name: str) -> bool:
        params = init.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.name.value != name:
                continue
            default = param.default
            if isinstance(default, cst.UnaryOperation):
                default = default.expression
            if isinstance(default, (cst.Integer, cst.Float)):
                return True
            annotation = param.annotation.annotation if param.annotation is not None else None
            return isinstance(annotation, cst.Name) and annotation.value in ("float", "int")
        return False

    def _written_again(self, relatives: list[ClassInfo], attr: str, statement: cst.CSTNode) -> bool:
        """Whether some method writes ``self.<attr>`` again (state, not a constant): an assignment
        other than one that registers it, `self.<attr> += ...`, `self.<attr>[i] = ...`, or an
        in-place method (`self.<attr>.add_(1)`)."""
        found = False

        def enter(node: cst.CSTNode) -> bool:
            nonlocal found
            if found or node is statement:
                return False
            if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                for target in targets:
                    base = target
                    while isinstance(base, cst.Subscript):
                        base = base.value
                    if _is_self_attr(base, attr):
                        value = node.value
                        registering = (
                            isinstance(node, (cst.Assign, cst.AnnAssign))
                            and base is target
                            and isinstance(value, cst.Call)
                            and self.ctx.qualified_name(value.func) in _REGISTERING_CLASSES
                        )
                        if not registering:
                            found = True
                return not found
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value.endswith("_")
                and not node.func.attr.value.startswith("_")
                and _is_self_attr(node.func.value, attr)
            ):
                found = True
                return False
            return True

        for info in relatives:
            if info.node is not None:
                walker.walk(info.node, enter)
        return found

    # -- moved at every read ---------------------------------------------------------------

    def _moved_at_every_read(self, relatives: list[ClassInfo], attr: str, init: cst.FunctionDef) -> bool:
        """Whether ``self.<attr>`` is read outside ``init`` at least once and every such read is
        `self.<attr>.to(<device>)` / `.cuda()` / `.type_as(t)`."""
        moved = other = 0

        def enter(node: cst.CSTNode) -> bool:
            nonlocal moved, other
            if other or node is init:
                return False
            if isinstance(node, (cst.Assign, cst.AnnAssign)):
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                for target in targets:
                    if not _is_self_attr(target, attr):
                        walker.walk(target, enter)
                if node.value is not None:
                    walker.walk(node.value, enter)
                return False
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value in _MOVES
                and not self._dtype_only(node)
            ):
                base, parts = _peel_views(node.func.value)
                if _is_self_attr(base, attr):
                    moved += 1
                    for part in (*node.args, *parts):
                        walker.walk(part, enter)
                    return False
            if _is_self_attr(node, attr):  # type: ignore[arg-type]
                other += 1
                return False
            return True

        for info in relatives:
            if info.node is not None:
                walker.walk(info.node, enter)
        return moved > 0 and other == 0

    def _dtype_only(self, call: cst.Call) -> bool:
        """`x.to(torch.float16)` / `x.to(dtype=...)`: a conversion that stays on the device."""
        if not isinstance(call.func, cst.Attribute) or call.func.attr.value != "to":
            return False
        for arg in call.args:
            if arg.keyword is not None:
                if arg.keyword.value in ("dtype", "non_blocking", "copy", "memory_format"):
                    continue
                return False
            name = self.ctx.qualified_name(arg.value)
            if name is None or not (name.startswith("torch.") and name.rpartition(".")[2] in _DTYPE_NAMES):
                return False
        return True
