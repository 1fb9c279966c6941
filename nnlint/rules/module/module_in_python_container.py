from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from nnlint import walker
from nnlint.names import dotted_name
from nnlint.patterns import module_class_call, self_attribute, torch_nn_spelling
from nnlint.rule import Invalid, NodeFix, Rule

# torch.nn modules with no parameters, no buffers and no train/eval behaviour: a plain list of
# them loses nothing (`self.acts = [nn.ReLU(), nn.GELU()]` is harmless).
STATELESS_TORCH_MODULES = frozenset(
    f"torch.nn.{name}"
    for name in (
        "ReLU ReLU6 LeakyReLU ELU SELU CELU GELU SiLU Mish Sigmoid Tanh Hardtanh Hardswish "
        "Hardsigmoid Hardshrink Softshrink Tanhshrink Softplus Softsign LogSigmoid Threshold GLU "
        "Softmax Softmin LogSoftmax Softmax2d Identity Flatten Unflatten Upsample "
        "UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle PixelUnshuffle ChannelShuffle "
        "MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d AdaptiveAvgPool1d "
        "AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d "
        "LPPool1d LPPool2d ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d "
        "ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d "
        "ReplicationPad3d CircularPad1d CircularPad2d CircularPad3d Fold Unfold CosineSimilarity "
        "PairwiseDistance"
    ).split()
)
_EMPTY_CALLS = {"list": "list", "dict": "dict"}
# Ways a container on `self` gets more elements: method -> index of the argument that is added
# (None: the argument is itself a collection of elements).
_ADDING_METHODS = {"append": 0, "insert": 1, "extend": None, "update": None}


def _is_self_call(node: cst.Call, methods: frozenset[str]) -> bool:
    """``self.add_module(...)``-like calls, and ``setattr(self, ...)``."""
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value in methods:
        return isinstance(func.value, cst.Name) and func.value.value == "self"
    return (
        isinstance(func, cst.Name)
        and func.value == "setattr"
        and bool(node.args)
        and isinstance(node.args[0].value, cst.Name)
        and node.args[0].value.value == "self"
    )


@dataclass
class _Store:
    """One assignment whose value may be a plain container: ``self.x = [...]`` or ``x = [...]``."""

    statement: cst.CSTNode  # Assign / AnnAssign
    target: cst.BaseExpression
    value: cst.BaseExpression
    function: cst.FunctionDef
    single_target: bool


@dataclass
class _ClassState:
    attr_stores: dict[str, list[_Store]] = field(default_factory=dict)
    attr_additions: dict[str, list[tuple[cst.BaseExpression, cst.FunctionDef]]] = field(default_factory=dict)
    local_stores: dict[tuple[cst.FunctionDef, str], list[_Store]] = field(default_factory=dict)
    local_additions: dict[tuple[cst.FunctionDef, str], list[cst.BaseExpression]] = field(default_factory=dict)
    # The arguments of calls that register what they are given (nn.Sequential(*layers), ...),
    # and the names and `self.x` in them: worked out only for a class that has a plain container
    # to judge (nearly every call in a Module builds a Module, so walking each one's arguments up
    # front was the rule's main cost).
    calls: list[tuple[cst.FunctionDef, cst.Call]] = field(default_factory=list)
    registered_names: set[tuple[cst.FunctionDef | None, str]] | None = None
    # Locals stored on an attribute (`self.fc = layer`): registered there, or kept elsewhere.
    escaped: set[tuple[cst.FunctionDef, str]] = field(default_factory=set)
    registers_by_name: bool = False  # self.add_module / setattr(self, ...) somewhere in the class


_NOT_A_MODULE = _ClassState()  # marks a class whose events are not collected


class PythonContainerRule(Rule):
    """Shared analysis for plain lists / tuples / dicts on `self` that hold things a Module must
    register (submodules for NN104, Parameters for NN105)."""

    list_wrapper = ""  # torch.nn member to wrap lists in
    dict_wrapper = ""
    element_noun = ""
    consequences = ""
    # self.<method>(...) / setattr(self, ...) calls that register by name
    registering_methods: frozenset[str] = frozenset()

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._classes: dict[cst.ClassDef, _ClassState] = {}

    # -- what counts as an element ---------------------------------------------------------

    def element_name(self, node: cst.BaseExpression) -> str | None:
        """The qualified name of what ``node`` builds, when it is an element the rule is about."""
        raise NotImplementedError

    def wraps(self, value: cst.BaseExpression) -> bool:
        """True when ``value`` is a registering container (``nn.ModuleList(...)``)."""
        return module_class_call(self.ctx, value) is not None

    # -- collecting events during the traversal ----------------------------------------------

    def _where(self) -> tuple[_ClassState, cst.FunctionDef] | None:
        owner = self.ctx.method_scopes
        function = self.ctx.enclosing_function
        if owner is None or function is None:
            return None
        state = self._classes.get(owner[0])
        if state is None:
            info = self.ctx.facts.class_of_node.get(owner[0])
            # Only Module classes are judged (leave_ClassDef): collect nothing in the others.
            state = _ClassState() if info is not None and self.ctx.is_module_class(info) else _NOT_A_MODULE
            self._classes[owner[0]] = state
        return None if state is _NOT_A_MODULE else (state, function)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._store(node, target.target, node.value, len(node.targets) == 1)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._store(node, node.target, node.value, True)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.AddAssign):
            where = self._where()
            if where is not None:
                self._add_collection(where[0], where[1], node.target, node.value)

    def _store(self, statement: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression, single: bool) -> None:
        where = self._where()
        if where is None:
            return
        state, function = where
        attr = self_attribute(target)
        if attr is not None:
            state.attr_stores.setdefault(attr, []).append(_Store(statement, target, value, function, single))
            if isinstance(value, cst.Name):
                state.escaped.add((function, value.value))
            return
        if isinstance(target, cst.Name):
            state.local_stores.setdefault((function, target.value), []).append(
                _Store(statement, target, value, function, single)
            )
            return
        if isinstance(target, cst.Subscript):
            # self.heads["a"] = nn.Linear(...) / heads["a"] = ...
            self._add_one(state, function, target.value, value)
        elif isinstance(value, cst.Name):
            state.escaped.add((function, value.value))  # obj.attr = layer

    def visit_Call(self, node: cst.Call) -> None:
        where = self._where()
        if where is None:
            return
        state, function = where
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _ADDING_METHODS:
            index = _ADDING_METHODS[func.attr.value]
            if index is None:
                for arg in node.args:
                    if arg.keyword is None and not arg.star:
                        self._add_collection(state, function, func.value, arg.value)
                    elif arg.keyword is not None:  # d.update(a=nn.Linear(...))
                        self._add_one(state, function, func.value, arg.value)
            elif len(node.args) > index:
                self._add_one(state, function, func.value, node.args[index].value)
        if _is_self_call(node, self.registering_methods):
            state.registers_by_name = True
        if node.args:
            state.calls.append((function, node))

    def _add_one(self, state: _ClassState, function: cst.FunctionDef, container: cst.BaseExpression, element: cst.BaseExpression) -> None:
        attr = self_attribute(container)
        if attr is not None:
            state.attr_additions.setdefault(attr, []).append((element, function))
        elif isinstance(container, cst.Name):
            state.local_additions.setdefault((function, container.value), []).append(element)

    def _add_collection(self, state: _ClassState, function: cst.FunctionDef, container: cst.BaseExpression, collection: cst.BaseExpression) -> None:
        for element in _literal_elements(collection) or ():
            self._add_one(state, function, container, element)

    # -- deciding, once the class is complete ----------------------------------------------

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        state = self._classes.pop(node, None)
        info = self.ctx.facts.class_of_node.get(node)
        # A state other than _NOT_A_MODULE exists only for a Module class (see _where).
        if state is None or state is _NOT_A_MODULE or info is None or state.registers_by_name:
            return
        for attr, stores in state.attr_stores.items():
            if not any(self._may_hold_container(s, state) for s in stores):
                continue  # nothing _check_attribute judges
            if any(self.wraps(s.value) for s in stores) or (None, f"self.{attr}") in self._registered(state):
                continue
            self._check_attribute(info.name, attr, stores, state)

    @staticmethod
    def _may_hold_container(store: _Store, state: _ClassState) -> bool:
        """Whether the store puts a plain container on `self` (a literal, or a local only ever
        assigned one): the only stores _check_attribute judges."""
        if _container_kind(store.value) is not None:
            return True
        if isinstance(store.value, cst.Name):
            locals_ = state.local_stores.get((store.function, store.value.value), ())
            return bool(locals_) and all(_container_kind(s.value) is not None for s in locals_)
        return False

    def _registered(self, state: _ClassState) -> set[tuple[cst.FunctionDef | None, str]]:
        """Names and `self.x` that reach a call which registers them (`self.x` for the whole class)."""
        if state.registered_names is None:
            state.registered_names = set()
            for function, call in state.calls:
                if not (_is_self_call(call, self.registering_methods) or self.wraps(call)):
                    continue
                for arg in call.args:
                    for inner in walker.iter_nodes(arg.value):
                        key = dotted_name(inner) if isinstance(inner, (cst.Name, cst.Attribute)) else None
                        if key is not None:
                            state.registered_names.add((None if key.startswith("self.") else function, key))
        return state.registered_names

    def _check_attribute(self, class_name: str, attr: str, stores: list[_Store], state: _ClassState) -> None:
        additions = state.attr_additions.get(attr, [])
        for store in stores:
            kind = _container_kind(store.value)
            if kind is not None:
                elements = _literal_elements(store.value) or []
                found = self._first_element([(e, store.function) for e in elements], state)
                appended = found is None
                if appended:
                    found = self._first_element(additions, state)
                if found is None:
                    continue
                # A wrapper only fits when every literal element is itself one (no nesting).
                fixable = store.single_target and all(
                    self._element(e, store.function, state, nested=False) for e in elements
                )
                source = None
            elif isinstance(store.value, cst.Name):
                key = (store.function, store.value.value)
                locals_ = state.local_stores.get(key, [])
                kinds = {_container_kind(s.value) for s in locals_}
                if key in self._registered(state) or len(kinds) != 1 or None in kinds:
                    continue  # unknown, registered elsewhere, or the name also holds something else
                kind = kinds.pop() or "list"
                elements = [e for s in locals_ for e in _literal_elements(s.value) or ()]
                elements += state.local_additions.get(key, [])
                found = self._first_element([(e, store.function) for e in elements], state)
                if found is None:
                    continue
                appended, fixable, source = False, store.single_target, store.value.value
            else:
                continue
            self._report(class_name, attr, store, kind, found, source, appended, fixable)
            return

    def _first_element(self, elements: list[tuple[cst.BaseExpression, cst.FunctionDef]], state: _ClassState) -> str | None:
        """What the first element that the rule is about builds (a qualified class name)."""
        for element, function in elements:
            name = self._element(element, function, state)
            if name is not None:
                return name
        return None

    def _element(
        self, node: cst.BaseExpression, function: cst.FunctionDef, state: _ClassState, nested: bool = True, depth: int = 0
    ) -> str | None:
        name = self.element_name(node)
        if name is not None or depth > 3:
            return name
        if isinstance(node, cst.IfExp):
            return self._element(node.body, function, state, nested, depth + 1) or self._element(
                node.orelse, function, state, nested, depth + 1
            )
        inner = _literal_elements(node) if nested else None
        if inner is not None:
            for element in inner:
                found = self._element(element, function, state, nested, depth + 1)
                if found is not None:
                    return found
            return None
        if isinstance(node, cst.Name):
            # A local that only ever holds one kind of element and is not kept anywhere else.
            key = (function, node.value)
            stores = state.local_stores.get(key)
            if not stores or key in self._registered(state) or key in state.escaped:
                return None
            names = {self.element_name(s.value) for s in stores}
            if len(names) == 1 and None not in names:
                return names.pop()
        return None

    def _report(
        self, class_name: str, attr: str, store: _Store, kind: str, element: str, source: str | None, appended: bool, fixable: bool
    ) -> None:
        wrapper = self.dict_wrapper if kind == "dict" else self.list_wrapper
        short = element.rpartition(".")[2]
        if appended:
            how = f"a plain {kind} that gets `{short}` {self.element_noun}s added later"
        elif source is None:
            how = f"a plain {kind} holding `{short}` {self.element_noun}s"
        else:
            how = f"a plain {kind} (`{source}`) holding `{short}` {self.element_noun}s"
        spelling, imports = torch_nn_spelling(self.ctx, wrapper)
        fix = None
        if fixable and (kind != "dict" or _string_keys(store.value)):
            # A tuple's range leaves out its parentheses: rewrite the whole assignment instead.
            old: cst.CSTNode = store.value
            new = self._wrapped(spelling, store.value)
            if isinstance(store.value, cst.Tuple):
                old = store.statement
                new = f"{self.ctx.module.code_for_node(store.target)} = {new}"
            if isinstance(old, (cst.BaseExpression, cst.Assign)):
                fix = NodeFix(f"wrap `self.{attr}` in `{wrapper}`", "unsafe", ((old, new),), imports)
        self.report(
            store.statement,
            f"`self.{attr}` in `{class_name}` is {how}: they are not registered, so "
            f"{self.consequences}; use `{spelling}(...)`",
            fix,
        )

    def _wrapped(self, spelling: str, value: cst.BaseExpression) -> str:
        if _literal_elements(value) == [] and not isinstance(value, cst.Tuple):
            return f"{spelling}()"  # [] / {} / list() / dict()
        if isinstance(value, cst.Tuple):
            inner = ", ".join(self.ctx.module.code_for_node(e.value) for e in value.elements)
            return f"{spelling}([{inner}])"
        return f"{spelling}({self.ctx.module.code_for_node(value)})"


def _container_kind(value: cst.BaseExpression) -> str | None:
    """"list" / "tuple" / "dict" for a plain Python container expression."""
    if isinstance(value, (cst.List, cst.ListComp)):
        return "list"
    if isinstance(value, cst.Tuple):
        return "tuple"
    if isinstance(value, (cst.Dict, cst.DictComp)):
        return "dict"
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in _EMPTY_CALLS and not value.args:
        return _EMPTY_CALLS[value.func.value]
    return None


def _literal_elements(value: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    """The element expressions of a list / tuple / dict literal or comprehension (dict values)."""
    if isinstance(value, (cst.List, cst.Tuple)):
        return [e.value for e in value.elements if isinstance(e, cst.Element)]
    if isinstance(value, (cst.ListComp, cst.GeneratorExp)):
        return [value.elt]
    if isinstance(value, cst.Dict):
        return [e.value for e in value.elements if isinstance(e, cst.DictElement)]
    if isinstance(value, cst.DictComp):
        return [value.value]
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in _EMPTY_CALLS and not value.args:
        return []
    return None


def _string_keys(value: cst.BaseExpression) -> bool:
    """True when every key of a dict literal is a string (nn.ModuleDict accepts only those)."""
    if isinstance(value, cst.Dict):
        return all(
            isinstance(e, cst.DictElement) and isinstance(e.key, (cst.SimpleString, cst.FormattedString))
            for e in value.elements
        )
    if isinstance(value, cst.DictComp):
        return isinstance(value.key, (cst.SimpleString, cst.FormattedString))
    return isinstance(value, cst.Call)  # dict()


class ModuleInPythonContainer(PythonContainerRule):
    code = "NN104"
    name = "module-in-python-container"
    summary = "submodules kept in a plain list / tuple / dict on `self` are never registered"
    what = (
        "Flags a plain `list`, `tuple` or `dict` stored on `self` in an `nn.Module` subclass when "
        "it holds submodules: a literal or comprehension of layers (`self.layers = [nn.Linear(...) "
        "for _ in range(n)]`), an empty list that layers are appended to later "
        "(`self.layers = []` then `self.layers.append(nn.Linear(...))`), or a local list of layers "
        "assigned to `self`. Lists of stateless layers only (`nn.ReLU()`, `nn.Identity()`) are "
        "left alone, as are containers also passed to `nn.Sequential` / `nn.ModuleList` / "
        "`add_module`."
    )
    why = (
        "nn.Module only registers submodules assigned directly as attributes or held in "
        "`nn.ModuleList` / `nn.ModuleDict` / `nn.Sequential`. Layers in a plain Python container "
        "are invisible: their parameters are missing from `model.parameters()` (the optimizer never "
        "trains them), `model.to(device)` leaves them on the CPU, `state_dict()` does not save them, "
        "and `model.eval()` leaves their dropout and batch norm in training mode."
    )
    use_instead = (
        "class MLP(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n"
        "        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(n)])\n"
    )
    fix_safety = (
        "Unsafe: wrapping in `nn.ModuleList` / `nn.ModuleDict` registers the layers, which adds "
        "their keys to `state_dict()` (checkpoints saved before the fix no longer load with "
        "`strict=True`) and hands their parameters to optimizers built from `model.parameters()`. "
        "No fix is offered for nested containers or dicts whose keys are not strings."
    )
    fix_availability = "unsafe"
    list_wrapper = "ModuleList"
    dict_wrapper = "ModuleDict"
    element_noun = "layer"
    consequences = "`.to()`, `.parameters()`, `state_dict()` and `.eval()` never reach them"
    registering_methods = frozenset({"add_module", "register_module"})

    VALID = [
        "import torch.nn as nn\n\nclass MLP(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(n)])\n        self.heads = nn.ModuleDict({'a': nn.Linear(8, 1)})\n",
        # Containers of non-modules.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, dims):\n        super().__init__()\n        self.dims = [d * 2 for d in dims]\n        self.names = {'a': 1}\n        self.hooks = []\n        self.hooks.append(self.register_forward_hook(print))\n",
        # Local temporaries passed to nn.Sequential / nn.ModuleList.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        layers = []\n        for _ in range(n):\n            layers.append(nn.Linear(8, 8))\n            layers.append(nn.ReLU())\n        self.body = nn.Sequential(*layers)\n        blocks = [nn.Conv2d(3, 3, 3) for _ in range(n)]\n        self.blocks = nn.ModuleList(blocks)\n",
        # The list is turned into a ModuleList afterwards.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.layers = []\n        for _ in range(n):\n            self.layers.append(nn.Linear(8, 8))\n        self.layers = nn.ModuleList(self.layers)\n",
        # Registered one by one with add_module.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.layers = [nn.Linear(8, 8) for _ in range(n)]\n        for i, layer in enumerate(self.layers):\n            self.add_module(f'layer{i}', layer)\n",
        # Also registered through nn.Sequential; the list only holds references.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.stages = [nn.Linear(8, 8), nn.Linear(8, 8)]\n        self.net = nn.Sequential(*self.stages)\n",
        # References to modules registered elsewhere; stateless activations and losses.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc1 = nn.Linear(8, 8)\n        self.fc2 = nn.Linear(8, 8)\n        self.fcs = [self.fc1, self.fc2]\n        self.acts = [nn.ReLU(), nn.GELU()]\n        self.losses = {'l2': nn.SmoothL1Loss(reduction='none'), 'ce': nn.CrossEntropyLoss()}\n",
        # Not a Module class.
        "import torch.nn as nn\n\nclass Ensemble:\n    def __init__(self):\n        self.models = [nn.Linear(8, 1) for _ in range(3)]\n",
        # A local stored on self that was also registered.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        layers = [nn.Linear(8, 8), nn.Linear(8, 8)]\n        self.net = nn.Sequential(*layers)\n        self.layers = layers\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n\nclass MLP(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.layers = [nn.Linear(8, 8) for _ in range(n)]  # error\n",
            fixed="import torch.nn as nn\n\nclass MLP(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(n)])  # error\n",
        ),
        Invalid(
            "from torch import nn\n\nclass MLP(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.layers = []  # error\n        for _ in range(n):\n            self.layers.append(nn.Linear(8, 8))\n",
            fixed="from torch import nn\n\nclass MLP(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.layers = nn.ModuleList()  # error\n        for _ in range(n):\n            self.layers.append(nn.Linear(8, 8))\n",
        ),
        Invalid(
            "import torch.nn as nn\n\nclass MultiHead(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.heads = {'cls': nn.Linear(8, 10), 'box': nn.Linear(8, 4)}  # error\n",
            fixed="import torch.nn as nn\n\nclass MultiHead(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.heads = nn.ModuleDict({'cls': nn.Linear(8, 10), 'box': nn.Linear(8, 4)})  # error\n",
        ),
        # `from torch.nn import Module as M`, a subclass chain, and a block class of the same file.
        Invalid(
            "import torch\nfrom torch.nn import Module as M, Conv2d\n\nclass Block(M):\n    def __init__(self):\n        super().__init__()\n        self.conv = Conv2d(3, 3, 3)\n\nclass Base(M):\n    pass\n\nclass Net(Base):\n    def __init__(self):\n        super().__init__()\n        self.blocks = (Block(), Block())  # error\n",
            fixed="import torch\nfrom torch.nn import Module as M, Conv2d\n\nclass Block(M):\n    def __init__(self):\n        super().__init__()\n        self.conv = Conv2d(3, 3, 3)\n\nclass Base(M):\n    pass\n\nclass Net(Base):\n    def __init__(self):\n        super().__init__()\n        self.blocks = torch.nn.ModuleList([Block(), Block()])  # error\n",
        ),
        # A local list of layers stored on self.
        Invalid(
            "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        layers = []\n        for _ in range(n):\n            layer = nn.Linear(8, 8)\n            layers.append(layer)\n        self.layers = layers  # error\n",
            fixed="import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        layers = []\n        for _ in range(n):\n            layer = nn.Linear(8, 8)\n            layers.append(layer)\n        self.layers = nn.ModuleList(layers)  # error\n",
        ),
        # Dropout in a plain list stays in training mode after model.eval(); dict filled later.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, names):\n        super().__init__()\n        self.drops = [nn.Dropout(0.1), nn.Dropout(0.2)]  # error\n        self.towers = {}  # error\n        for name in names:\n            self.towers[name] = nn.Sequential(nn.Linear(8, 8), nn.ReLU())\n",
        # Appended in another method; a nested list (no fix offered).
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.stages = []  # error\n        self.grid = [[nn.Linear(2, 2) for _ in range(2)] for _ in range(2)]  # error\n        self.build()\n\n    def build(self):\n        self.stages.extend([nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)])\n",
    ]

    def element_name(self, node: cst.BaseExpression) -> str | None:
        name = module_class_call(self.ctx, node)
        if name is None or name in STATELESS_TORCH_MODULES:
            return None
        if name.startswith("torch.nn.") and name.endswith("Loss"):
            # A loss holds state only when given class weights (a buffer that `.to()` must move).
            assert isinstance(node, cst.Call)
            if not any(a.keyword is not None and a.keyword.value in ("weight", "pos_weight") for a in node.args):
                return None
        return name
