from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.names import dotted_name
from nnlint.patterns import module_class_call, self_attribute, strip_chain
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.tensors import bound_names

# Module methods that return the module itself, so `Net().to(device)` is still the module.
_RETURNS_SELF = frozenset("to cuda cpu float double half bfloat16 train eval requires_grad_ type".split())
# Iterating these yields modules (the `named_` ones yield (name, module) pairs).
_MODULE_ITERATORS = frozenset({"modules", "children"})
_NAMED_MODULE_ITERATORS = frozenset({"named_modules", "named_children"})
# Methods that only modules have (not tensors, not Parameters): calling one is evidence.
_MODULE_ONLY_METHODS = frozenset(
    "parameters named_parameters modules named_modules children named_children buffers named_buffers "
    "eval train register_buffer register_parameter register_module add_module get_submodule "
    "register_forward_hook register_forward_pre_hook register_full_backward_hook "
    "register_full_backward_pre_hook load_state_dict".split()
)
# Containers whose items are modules.
_MODULE_CONTAINERS = frozenset(
    {"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict", "torch.nn.modules.container.Sequential"}
)
_MAX_DEPTH = 4
# Calls that test what an object is: a name tested so may hold a module on one path only.
_TYPE_TESTS = frozenset({"isinstance", "hasattr", "type"})

Scope = cst.FunctionDef | None  # None: module level
_NOT_A_MODULE = ""  # store kind for anything but a module (or None)
_UNKNOWN_MODULE = "torch.nn.Module"  # a module of a class nnlint does not know
# (value, function it is assigned in, class whose method that is)
Assigned = tuple["str | cst.BaseExpression", Scope, "cst.ClassDef | None"]


class ModuleRequiresGradAttribute(Rule):
    code = "NN110"
    name = "module-requires-grad-attribute"
    summary = "`module.requires_grad = False` sets a plain attribute on a Module and freezes nothing"
    triggers = ("requires_grad",)  # it reports only assignments to `<x>.requires_grad`
    what = (
        "Flags `x.requires_grad = ...` when `x` is known to be an `nn.Module`. The evidence: `self` "
        "in a Module's method; a variable assigned a Module constructor (`model = Net()`); a "
        "parameter annotated with a Module class; the loop variable of `for m in model.modules()` / "
        "`.children()`; an attribute chain whose attributes the classes of the file assign only "
        "Modules (`model.backbone`, `self.encoder.layer1`, `self.trainer_model.head`), or an item "
        "of an `nn.Sequential` / `nn.ModuleList` / `nn.ModuleDict`; the same expression used as a "
        "module in the same function (`m.parameters()`, `m.eval()`, `m.named_modules()`, ...), "
        "unless the function tests its type (`isinstance(m, nn.Parameter)`: a mix); "
        "and a parameter of a helper (`def freeze(m): m.requires_grad = False`) that every call "
        "in the file passes a module (`freeze(model.encoder)`, `model.apply(freeze)`), when the "
        "helper is not also passed around where nnlint cannot see its callers. Tensors, "
        "Parameters (`model.fc.weight`, the `p` of `for p in model.parameters()`) and receivers "
        "of unknown type are left alone, as is a receiver whose `.requires_grad` the file reads "
        "back (a deliberate flag)."
    )
    why = (
        "`requires_grad` is a tensor attribute. On a Module, `m.requires_grad = False` just stores "
        "a new Python attribute: every parameter keeps `requires_grad=True`, the 'frozen' layers "
        "keep training, and memory use stays as high as before."
    )
    use_instead = "model.encoder.requires_grad_(False)\n"
    fix_safety = (
        "Safe: `m.requires_grad_(flag)` sets the flag on every parameter of the module, which is "
        "what the assignment was meant to do."
    )
    fix_availability = "safe"
    VALID = [
        "import torch.nn as nn\n\nmodel = nn.Linear(2, 2)\nmodel.weight.requires_grad = False\nfor p in model.parameters():\n    p.requires_grad = False\nmodel.requires_grad_(False)\n",
        # Parameters and tensors on self.
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.scale = nn.Parameter(torch.ones(1))\n        self.scale.requires_grad = False\n",
        # Receivers of unknown type.
        "def freeze(model):\n    model.encoder.requires_grad = False\n    model.requires_grad = False\n",
        # A flag the module reads back on purpose.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, train_all):\n        super().__init__()\n        self.requires_grad = train_all\n\n    def forward(self, x):\n        return x if self.requires_grad else x.detach()\n",
        # Not a Module class.
        "class Tracker:\n    def __init__(self):\n        self.requires_grad = False\n",
        # Chains that end in a Parameter or a tensor, and chains through classes nnlint cannot see.
        "import torch\nimport torch.nn as nn\nfrom torchvision.models import resnet18\n\nclass Encoder(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.pos_embed = nn.Parameter(torch.zeros(1, 8))\n        self.cache = torch.zeros(3)\n        self.proj = nn.Linear(8, 8)\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = Encoder()\n        self.backbone = resnet18()\n\nmodel = Net()\nmodel.encoder.pos_embed.requires_grad = False\nmodel.encoder.cache.requires_grad = True\nmodel.encoder.proj.weight.requires_grad = False\nmodel.backbone.layer1.requires_grad = False\n",
        # A helper given a Parameter by one caller, one given tensors, one passed where nnlint cannot follow it.
        "import torch\nimport torch.nn as nn\n\ndef set_flag(x, flag):\n    x.requires_grad = flag\n\ndef make_leaf(t):\n    t.requires_grad = True\n    return t\n\ndef freeze(m):\n    m.requires_grad = False\n\nmodel = nn.Linear(2, 2)\nset_flag(model, False)\nset_flag(model.weight, False)\nx = make_leaf(torch.zeros(3))\nhooks = [freeze]\n",
        # Used as a module somewhere else: evidence is about that exact expression, in that function.
        "def setup(model, p):\n    model.eval()\n    for q in model.parameters():\n        q.requires_grad = False\n    p.requires_grad = False\n    model.head.weight.requires_grad = True\n",
        # A mix of modules and Parameters, told apart by a type test.
        "import torch.nn as nn\n\ndef set_trainable(members, flag):\n    for m in members:\n        if isinstance(m, nn.Parameter):\n            m.requires_grad = flag\n        else:\n            for p in m.parameters():\n                p.requires_grad = flag\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = nn.LSTM(8, 8)\n        self.encoder.requires_grad = False  # error\n",
            fixed="import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = nn.LSTM(8, 8)\n        self.encoder.requires_grad_(False)  # error\n",
        ),
        Invalid(
            "from torch import nn\n\nmodel = nn.Sequential(nn.Linear(2, 2)).cuda()\nmodel.requires_grad = False  # error\nfor name, child in model.named_children():\n    child.requires_grad = True  # error\n",
            fixed="from torch import nn\n\nmodel = nn.Sequential(nn.Linear(2, 2)).cuda()\nmodel.requires_grad_(False)  # error\nfor name, child in model.named_children():\n    child.requires_grad_(True)  # error\n",
        ),
        # A class of the same file, its child, and a Module-annotated parameter.
        "import torch.nn as nn\nfrom torch.nn import Module as M\n\nclass Backbone(M):\n    pass\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.backbone = Backbone()\n        self.head = nn.Linear(8, 2)\n\n    def freeze(self):\n        self.requires_grad = False  # error\n\ndef train(freeze_backbone: bool, layer: nn.Module):\n    net = Net()\n    net.backbone.requires_grad = not freeze_backbone  # error\n    layer.requires_grad = False  # error\n    for m in net.modules():\n        m.requires_grad = False  # error\n",
        # Attribute chains: through submodules the classes assign, a trainer's model, a ModuleList item.
        Invalid(
            "import torch.nn as nn\n\nclass Encoder(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.layer1 = nn.Sequential(nn.Linear(8, 8), nn.ReLU())\n        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(4)])\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = Encoder()\n        self.encoder.layer1.requires_grad = False  # error\n\nclass Trainer:\n    def __init__(self):\n        self.model = Net().cuda()\n\n    def freeze(self):\n        self.model.encoder.blocks[0].requires_grad = False  # error\n\nmodel = Net()\nmodel.encoder.requires_grad = False  # error\n",
            fixed="import torch.nn as nn\n\nclass Encoder(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.layer1 = nn.Sequential(nn.Linear(8, 8), nn.ReLU())\n        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(4)])\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = Encoder()\n        self.encoder.layer1.requires_grad_(False)  # error\n\nclass Trainer:\n    def __init__(self):\n        self.model = Net().cuda()\n\n    def freeze(self):\n        self.model.encoder.blocks[0].requires_grad_(False)  # error\n\nmodel = Net()\nmodel.encoder.requires_grad_(False)  # error\n",
        ),
        # A helper's parameter: every caller passes a module (directly, by `.apply`), or the helper uses it as one.
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.encoder = nn.Linear(8, 8)\n\ndef freeze(m):\n    m.requires_grad = False  # error\n\ndef unfreeze(module, flag=True):\n    module.requires_grad = flag  # error\n\ndef set_trainable(layer, on):\n    layer.train(on)\n    layer.requires_grad = on  # error\n\ndef main():\n    model = Net()\n    freeze(model.encoder)\n    freeze(model)\n    model.apply(unfreeze)\n    unfreeze(module=model.encoder, flag=False)\n",
        # A global model seen from a function; a module-level script's helper called from `__main__`.
        "import torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(2, 2), nn.ReLU())\n\ndef freeze_all():\n    model.requires_grad = False  # error\n    model[0].requires_grad = False  # error\n\ndef freeze_first(net):\n    net.requires_grad = False  # error\n\nif __name__ == '__main__':\n    freeze_first(model)\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        # What `self.<attribute>` is assigned, per class, and what other names and dotted
        # expressions are assigned, per scope (a function, None for module level, or the class
        # for `self.a.b`): each a kind (a module class name, "None", _NOT_A_MODULE) or the
        # expression, judged only when a `.requires_grad =` needs it (most files have none).
        self._attrs: dict[cst.ClassDef, dict[str, list[Assigned]]] = {}
        self._locals: dict[tuple[object, str], list[Assigned]] = {}
        self._targets: list[tuple[cst.CSTNode, cst.Attribute, cst.BaseExpression, Scope, cst.ClassDef | None, bool]] = []
        self._target_nodes: set[cst.Attribute] = set()
        self._read: set[str] = set()  # receivers whose `.requires_grad` is read
        self._uses: dict[tuple[object, str], str] = {}  # (scope, expression) -> a module-only method called on it
        Site = tuple[cst.Call, Scope, "cst.ClassDef | None"]
        self._calls: dict[str, list[Site]] = {}  # module-level function -> calls of it
        self._applied: dict[str, list[Site]] = {}  # module-level function -> `x.apply(function)`
        self._escaped: dict[str, bool] = {}
        self._tested: set[tuple[object, str]] = set()  # `isinstance(x, ...)`: x holds several types
        self._bound: dict[cst.FunctionDef, set[str]] = {}

    # -- collecting ------------------------------------------------------------------------

    def _owner(self) -> cst.ClassDef | None:
        scopes = self.ctx.method_scopes
        return scopes[0] if scopes else None

    @staticmethod
    def _scope_of(key: str, function: Scope, owner: cst.ClassDef | None) -> object:
        """Where an expression's facts live: the class for `self...` in a method, else the function."""
        if owner is not None and (key == "self" or key.startswith("self.")):
            return owner
        return function

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        owner = self._owner()
        for param in (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params):
            if param.annotation is not None:
                name = self.ctx.qualified_name(param.annotation.annotation)
                if name is not None and self.ctx.is_module_class_name(name):
                    self._locals.setdefault((node, param.name.value), []).append((name, node, owner))

    def visit_For(self, node: cst.For) -> None:
        function, owner = self.ctx.enclosing_function, self._owner()
        iterated = node.iter
        target = node.target
        modules = False
        if isinstance(iterated, cst.Call) and isinstance(iterated.func, cst.Attribute):
            method = iterated.func.attr.value
            if method in _NAMED_MODULE_ITERATORS and isinstance(target, cst.Tuple) and len(target.elements) == 2:
                target = target.elements[1].value
                modules = True
            elif method in _MODULE_ITERATORS:
                modules = True
        if modules and isinstance(target, cst.Name):
            self._locals.setdefault((function, target.value), []).append(("torch.nn.Module", function, owner))
        else:  # some other loop variable: not known
            for name in _names(node.target):
                self._locals.setdefault((function, name), []).append((_NOT_A_MODULE, function, owner))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        functions = self.ctx.facts.functions
        if isinstance(func, cst.Name):
            if func.value in functions:
                self._calls.setdefault(func.value, []).append((node, self.ctx.enclosing_function, self._owner()))
            elif func.value in _TYPE_TESTS and node.args:
                key = dotted_name(node.args[0].value)
                if key is not None:
                    function, owner = self.ctx.enclosing_function, self._owner()
                    self._tested.add((self._scope_of(key, function, owner), key))
            return
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if method in _MODULE_ONLY_METHODS:
            key = dotted_name(func.value)
            if key is not None:
                function, owner = self.ctx.enclosing_function, self._owner()
                self._uses.setdefault((self._scope_of(key, function, owner), key), method)
        elif method == "apply" and len(node.args) == 1 and node.args[0].keyword is None:
            applied = node.args[0].value
            if isinstance(applied, cst.Name) and applied.value in functions:
                self._applied.setdefault(applied.value, []).append((node, self.ctx.enclosing_function, self._owner()))

    def visit_Assign(self, node: cst.Assign) -> None:
        single = len(node.targets) == 1
        for target in node.targets:
            self._store(node, target.target, node.value, single)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._store(node, node.target, node.value, True)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "requires_grad" and node not in self._target_nodes:
            key = dotted_name(node.value)
            if key is not None:
                self._read.add(key)

    def _store(self, statement: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression, single: bool) -> None:
        function, owner = self.ctx.enclosing_function, self._owner()
        if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad":
            self._target_nodes.add(target)
            self._targets.append((statement, target, value, function, owner, single))
            return
        if isinstance(target, (cst.Tuple, cst.List)):
            for name in _names(target):
                self._locals.setdefault((function, name), []).append((_NOT_A_MODULE, function, owner))
            return
        attr = self_attribute(target)
        if attr is not None and owner is not None:
            self._attrs.setdefault(owner, {}).setdefault(attr, []).append((value, function, owner))
            return
        key = dotted_name(target)
        if key is not None:
            self._locals.setdefault((self._scope_of(key, function, owner), key), []).append((value, function, owner))

    # -- deciding --------------------------------------------------------------------------

    def leave_Module(self, node: cst.Module) -> None:
        code = self.ctx.module.code_for_node
        for statement, target, value, function, owner, single in self._targets:
            receiver = target.value
            key = dotted_name(receiver)
            if key is not None and key in self._read:
                continue
            held = self._holds(receiver, function, owner, 0)
            if held is None:
                continue
            shown = key if key is not None else code(receiver)
            flag = code(value)
            fix = None
            if single and isinstance(statement, cst.Assign):
                fix = NodeFix("call `requires_grad_(...)`", "safe", ((statement, f"{code(receiver)}.requires_grad_({flag})"),))
            self.report(
                statement,
                f"`{shown}` is an nn.Module ({held[1]}): `{shown}.requires_grad = {flag}` only sets a plain "
                f"attribute and freezes nothing; write `{shown}.requires_grad_({flag})`",
                fix,
            )

    def _holds(
        self, expr: cst.BaseExpression, function: Scope, owner: cst.ClassDef | None, depth: int
    ) -> tuple[frozenset[str], str] | None:
        """(the Module classes ``expr`` may hold, a description of the evidence) when ``expr`` is
        known to hold a Module in ``function``; None when it is not known to."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            if expr.value == "self" and owner is not None:
                info = self.ctx.facts.class_of_node.get(owner)
                if info is not None and self.ctx.is_module_class(info):
                    return frozenset({info.qualname}), f"`{info.name}`"
                return None
            return self._name_holds(expr.value, function, owner, depth)
        if isinstance(expr, cst.Subscript):
            container = self._holds(expr.value, function, owner, depth + 1)
            if container is not None and container[0] and container[0] <= _MODULE_CONTAINERS:
                short = " / ".join(sorted(f"`{c.rpartition('.')[2]}`" for c in container[0]))
                return frozenset({_UNKNOWN_MODULE}), f"an item of a {short}"
            return None
        if not isinstance(expr, cst.Attribute):
            return None
        key = dotted_name(expr)
        if key is not None:
            assigned = self._locals.get((self._scope_of(key, function, owner), key))
            if assigned:  # `model.fc = nn.Linear(...)` in this scope
                verdict = self._judge(assigned, depth)
                if verdict is False:
                    return None
                return verdict or self._used(key, function, owner)
        if isinstance(expr.value, cst.Name) and expr.value.value == "self" and owner is not None:
            info = self.ctx.facts.class_of_node.get(owner)
            assigned = self._class_attribute(info.qualname, expr.attr.value) if info is not None else None
        else:
            parent = self._holds(expr.value, function, owner, depth + 1)
            assigned = None
            if parent is not None:
                lists = [self._class_attribute(c, expr.attr.value) for c in parent[0]]
                if lists and all(found is not None for found in lists):
                    assigned = [item for found in lists for item in found]  # type: ignore[union-attr]
        if assigned:
            verdict = self._judge(assigned, depth)
            if verdict is not False:
                return verdict or (self._used(key, function, owner) if key is not None else None)
            return None
        return self._used(key, function, owner) if key is not None else None

    def _name_holds(
        self, name: str, function: Scope, owner: cst.ClassDef | None, depth: int
    ) -> tuple[frozenset[str], str] | None:
        assigned = self._locals.get((function, name))
        if assigned:
            verdict = self._judge(assigned, depth)
            if verdict is False:
                return None
            return verdict or self._used(name, function, owner)
        if function is not None:
            params = function.params
            if any(p.name.value == name for p in (*params.posonly_params, *params.params, *params.kwonly_params)):
                return self._callers_pass_modules(function, name, depth) or self._used(name, function, owner)
            if name not in self._bound_in(function):
                return self._name_holds(name, None, None, depth + 1) or self._used(name, function, owner)
        return self._used(name, function, owner)

    def _used(self, key: str, function: Scope, owner: cst.ClassDef | None) -> tuple[frozenset[str], str] | None:
        """Usage evidence: the expression has a module-only method called on it in this scope --
        unless the scope tests its type (`isinstance(m, nn.Parameter)`): then it holds modules
        only on some paths."""
        scope = self._scope_of(key, function, owner)
        method = self._uses.get((scope, key))
        if method is None or (scope, key) in self._tested:
            return None
        return frozenset({_UNKNOWN_MODULE}), f"it has `.{method}()`"

    def _judge(self, assigned: list[Assigned], depth: int) -> tuple[frozenset[str], str] | None | bool:
        """(classes, description) when every assignment gives a Module (or None); False when one
        gives something that is certainly not a Module; None when some are unknown."""
        classes: set[str] = set()
        descriptions: list[str] = []
        unknown = False
        for value, function, owner in assigned:
            if isinstance(value, str):
                kind: str | tuple[frozenset[str], str] | None = value
            else:
                kind = self._kind(value, function, owner, depth)
            if kind == "None":
                continue
            if kind == _NOT_A_MODULE or kind is None:
                unknown = True
            elif kind is False:
                return False
            elif isinstance(kind, tuple):
                classes |= kind[0]
                descriptions.append(kind[1])
            else:
                classes.add(kind)  # type: ignore[arg-type]
        if unknown or not classes:
            return None
        named = sorted({f"`{c.rpartition('.')[2]}`" for c in classes if c != _UNKNOWN_MODULE})
        return frozenset(classes), " / ".join(named) if named else descriptions[0] if descriptions else "a module"

    def _kind(
        self, value: cst.BaseExpression, function: Scope, owner: cst.ClassDef | None, depth: int
    ) -> str | tuple[frozenset[str], str] | bool | None:
        """A module class name, "None", a (classes, description) pair for an alias of a module,
        False for what is certainly no Module (a tensor, a Parameter, a literal), or None."""
        if isinstance(value, cst.Name) and value.value == "None":
            return "None"
        if isinstance(value, cst.IfExp):  # `nn.Linear(...) if cond else None`
            kinds = {self._kind(value.body, function, owner, depth), self._kind(value.orelse, function, owner, depth)}
            kinds.discard("None")
            return kinds.pop() if len(kinds) == 1 else None
        if isinstance(value, (cst.BaseNumber, cst.BaseString, cst.List, cst.Tuple, cst.Dict, cst.Set)):
            return False
        base, _ = strip_chain(value, _RETURNS_SELF)
        module = module_class_call(self.ctx, base)
        if module is not None:
            return module
        if isinstance(base, cst.Call):
            name = self.ctx.qualified_name(base.func)
            if name is not None and name.startswith("torch.") and not self.ctx.is_module_class_name(name):
                return False  # a tensor factory, `nn.Parameter(...)`, a torch function
            return None
        if isinstance(value, (cst.Name, cst.Attribute, cst.Subscript)):
            return self._holds(value, function, owner, depth + 1)
        return None

    def _class_attribute(self, qualname: str, attr: str) -> list[Assigned] | None:
        """What the class ``qualname`` (of this file) and its same-file ancestors assign to
        `self.<attr>`; None for a class nnlint cannot see into."""
        found: list[Assigned] = []
        seen: set[str] = set()
        pending = [qualname]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            info = self.ctx.facts.classes.get(current.rpartition(".")[2])
            if info is None or info.qualname != current or info.node is None:
                if current == qualname:
                    return None
                continue
            found.extend(self._attrs.get(info.node, {}).get(attr, ()))
            pending.extend(info.bases)
        return found

    def _callers_pass_modules(self, function: cst.FunctionDef, param: str, depth: int) -> tuple[frozenset[str], str] | None:
        """Evidence that every call of the module-level ``function`` in this file passes a Module
        as ``param`` (`freeze(model.encoder)`, `model.apply(freeze)`)."""
        name = function.name.value
        if function.decorators or self.ctx.facts.functions.get(name) is not function:
            return None
        sites = self._calls.get(name, [])
        applied = self._applied.get(name, [])
        if not sites and not applied or self._escapes(name, len(sites) + len(applied)):
            return None
        positional = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
        classes: set[str] = set()
        for call, scope, owner in sites:
            passed = None
            index = 0
            for arg in call.args:
                if arg.star:
                    return None
                if arg.keyword is not None:
                    if arg.keyword.value == param:
                        passed = arg.value
                elif index < len(positional):
                    if positional[index] == param:
                        passed = arg.value
                    index += 1
            held = self._holds(passed, scope, owner, depth + 1) if passed is not None else None
            if held is None:
                return None
            classes |= held[0]
        for call, scope, owner in applied:
            receiver = call.func.value  # type: ignore[attr-defined]
            if positional[:1] != [param] or self._holds(receiver, scope, owner, depth + 1) is None:
                return None
            classes.add(_UNKNOWN_MODULE)
        return frozenset(classes), f"every call of `{name}` in this file passes a module"

    def _escapes(self, name: str, calls: int) -> bool:
        """Whether the function ``name`` is used other than by the calls counted (passed as a
        callback, stored, exported): then callers nnlint cannot see may pass anything."""
        verdict = self._escaped.get(name)
        if verdict is None:
            count = 0

            def enter(node: cst.CSTNode) -> bool:
                nonlocal count
                if isinstance(node, cst.Attribute):
                    walker.walk(node.value, enter)
                    return False
                if isinstance(node, cst.Arg) and node.keyword is not None:
                    walker.walk(node.value, enter)
                    return False
                if isinstance(node, cst.FunctionDef) and node.name.value == name:
                    count -= 1  # its own name, counted below
                elif isinstance(node, cst.Name) and node.value == name:
                    count += 1
                return True

            walker.walk(self.ctx.module, enter)
            verdict = self._escaped[name] = count > calls
        return verdict

    def _bound_in(self, function: cst.FunctionDef) -> set[str]:
        bound = self._bound.get(function)
        if bound is None:
            body = function.body
            statements = list(body.body) if isinstance(body, cst.IndentedBlock) else [body]
            bound = self._bound[function] = bound_names(statements, set())
            for node in walker.iter_nodes(function.body):
                if isinstance(node, cst.NamedExpr) and isinstance(node.target, cst.Name):
                    bound.add(node.target.value)
        return bound


def _names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for element in target.elements for n in _names(element.value)]
    if isinstance(target, cst.StarredElement):
        return _names(target.value)
    return []
