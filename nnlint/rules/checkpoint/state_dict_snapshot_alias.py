from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from nnlint import walker
from nnlint.flow import AssignEvent, CallEvent, FunctionFlow, methods_of
from nnlint.modes import ModeModel, is_training_step
from nnlint.names import dotted_name
from nnlint.patterns import inner_blocks, suite_statements
from nnlint.rule import Invalid, NodeFix, Rule

_SHALLOW_COPIES = frozenset({"dict", "copy.copy", "collections.OrderedDict", "OrderedDict"})
_SAVE_CALLS = frozenset({"torch.save"})
_SNAPSHOT_WORDS = ("best", "snapshot", "prev", "old", "init", "saved", "orig", "backup", "checkpoint", "ckpt")
# Calls that put an item into a container (the container then holds the snapshot).
_ADDERS = frozenset({"append", "insert", "appendleft", "add"})
# Methods on the container that only write to it or drop items: not a use of the snapshots.
_WRITERS = frozenset({"append", "insert", "appendleft", "add", "extend", "clear", "pop", "popleft", "update", "setdefault"})
_NOT_READS = frozenset({"len", "isinstance"}) | _SAVE_CALLS
# Tensor methods that return the same storage (or the tensor itself): `{k: v.detach() ...}` aliases.
_SAME_STORAGE = frozenset({"detach", "view", "view_as", "reshape", "contiguous", "requires_grad_", "detach_"})
# A copy only when the tensor is not on the CPU already.
_TO_CPU = frozenset({"cpu", "numpy"})
# Methods of callbacks / modules that run after training is over.
_END_HOOKS = frozenset(
    "on_train_end on_fit_end teardown on_test_start on_test_end on_test_epoch_end on_predict_start "
    "on_predict_end on_exception __del__ close".split()
)
_ALIAS, _ON_CPU = "alias", "cpu"  # how a snapshot shares the live tensors


@dataclass
class _Snapshot:
    statement: cst.CSTNode  # the small statement that takes it (skipped when looking for reads)
    anchor: int  # index in the flow's events where it is taken
    loops: tuple[cst.CSTNode, ...]
    target: str  # the name, attribute or container that keeps it
    source: str  # `model.state_dict()`, or `model` for `best_model = model`
    node: cst.BaseExpression  # reported; replaced by the fix when ``fixable``
    kind: str  # _ALIAS, _ON_CPU, or "model" for `best_model = model`
    fixable: bool
    container: bool = False  # kept as an item of a list or dict
    accumulates: bool = False  # added to a container (`append`, `d[k] = ...`): earlier items stay


def _state_dict_call(node: cst.BaseExpression) -> str | None:
    """`model` for the call `model.state_dict()`."""
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "state_dict"
        and not node.args
    ):
        return dotted_name(node.func.value)
    return None


def _state_dict_source(ctx, value: cst.BaseExpression) -> str | None:  # type: ignore[no-untyped-def]
    """`model` when ``value`` is a shallow view of `model.state_dict()`."""
    node = value
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "copy" and not node.args:
        node = node.func.value
    elif isinstance(node, cst.Call) and ctx.qualified_name(node.func) in _SHALLOW_COPIES and len(node.args) == 1:
        node = node.args[0].value
    return _state_dict_call(node)


def _comprehension_view(ctx, value: cst.BaseExpression) -> tuple[str, str] | None:  # type: ignore[no-untyped-def]
    """(`model`, _ALIAS or _ON_CPU) for `{k: v<...> for k, v in model.state_dict().items()}` whose
    values share the live tensors: `v`, `v.detach()` (_ALIAS), `v.cpu()` / `v.cpu().numpy()`
    (_ON_CPU: a copy on a GPU, the same tensor on the CPU)."""
    if not isinstance(value, cst.DictComp) or value.for_in.inner_for_in is not None:
        return None
    loop = value.for_in
    items = loop.iter
    if not (isinstance(items, cst.Call) and isinstance(items.func, cst.Attribute) and items.func.attr.value == "items"):
        return None
    model = _state_dict_call(items.func.value)
    target = loop.target
    if model is None or not (isinstance(target, cst.Tuple) and len(target.elements) == 2):
        return None
    tensor = target.elements[1].value
    if not isinstance(tensor, cst.Name):
        return None
    node = value.value
    kind = _ALIAS
    while True:
        if isinstance(node, cst.Name):
            return (model, kind) if node.value == tensor.value else None
        if isinstance(node, cst.Attribute) and node.attr.value == "data":
            node = node.value
            continue
        if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
            return None  # `copy.deepcopy(v)`, `torch.clone(v)`, anything else: not known to alias
        method = node.func.attr.value
        if method in _TO_CPU or (method == "to" and _to_cpu(node)):
            kind = _ON_CPU
        elif method not in _SAME_STORAGE:
            return None  # `.clone()`, `.to(device)`, `.float()`, ...: a copy, or not known
        node = node.func.value


def _to_cpu(call: cst.Call) -> bool:
    """`x.to("cpu")` / `x.to(device="cpu")` / `x.to(torch.device("cpu"))` without `copy=True`."""
    found = False
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "copy":
            return False
        value = arg.value
        if isinstance(value, cst.Call) and value.args and dotted_name(value.func) in ("torch.device", "device"):
            value = value.args[0].value
        if isinstance(value, cst.SimpleString) and value.evaluated_value == "cpu":
            found = True
    return found


class StateDictSnapshotAlias(Rule):
    code = "NN301"
    name = "state-dict-snapshot-alias"
    summary = "a `state_dict()` kept as a snapshot aliases the live weights that training keeps changing"
    what = (
        "Flags `best = model.state_dict()` (and `.copy()`, `dict(...)`, `copy.copy(...)` of it, "
        "`{k: v for k, v in model.state_dict().items()}` and `{k: v.detach() ...}`, and "
        "`best_model = model`) when training continues afterwards -- a later `backward()`/`step()` "
        "in the same function, or the snapshot sits in a loop that trains -- and the snapshot is "
        "used later (restored, returned, compared). The snapshot may be kept in a list "
        "(`snapshots.append(model.state_dict())`), a dict (`best['weights'] = model.state_dict()`, "
        "`ckpts[epoch] = ...`, `{'model': model.state_dict(), ...}`), or an attribute of a callback "
        "or trainer (`self.best_state = model.state_dict()` in one method, "
        "`model.load_state_dict(self.best_state)` in another): the attribute is flagged when the "
        "class trains the model itself, or when the attribute is named like a snapshot (`best`, "
        "`init`, `prev`, `backup`, ...) and the method is not one that runs after training "
        "(`on_train_end`, `teardown`, ...).\n\n"
        "Not flagged: `copy.deepcopy(...)`, `{k: v.clone() ...}`, a state_dict passed straight to "
        "`torch.save` (also a list or dict of them saved straight away), and a snapshot used only "
        "before the weights change (in the same loop iteration, before the next step, when the "
        "snapshot is taken on every iteration). `{k: v.cpu() ...}` copies on a GPU but returns "
        "the same tensors on the CPU; it is flagged only when the file never mentions a device "
        "(`cuda`, `device`, `mps`), i.e. when the model can only be on the CPU."
    )
    why = (
        "`state_dict()` returns references to the parameter tensors, not copies, and a shallow copy "
        "of the dict copies only the references. Every optimizer step updates them in place, so the "
        "'best' weights silently become the last weights -- the PyTorch saving/loading tutorial "
        "warns about exactly this."
    )
    use_instead = "import copy\n\nbest_state = copy.deepcopy(model.state_dict())\n"
    fix_safety = "Safe: `copy.deepcopy(...)` (adding `import copy`) is what a snapshot means."
    fix_availability = "safe"
    needs_flow = True
    # A snapshot is a `state_dict()`; `best_model = model` is reported only where training steps follow.
    triggers = ("state_dict", "step", "backward")
    VALID = [
        "import copy\n\ndef fit(model, opt, loader, evaluate):\n    best, best_state = 0.0, None\n    for x, y in loader:\n        loss = model(x, y)\n        loss.backward()\n        opt.step()\n        if evaluate(model) > best:\n            best_state = copy.deepcopy(model.state_dict())\n    model.load_state_dict(best_state)\n",
        # Saved straight away: the file holds the weights of that moment.
        "import torch\n\ndef fit(model, opt, loader):\n    for x, y in loader:\n        loss = model(x, y)\n        loss.backward()\n        opt.step()\n        state = model.state_dict()\n        torch.save(state, 'last.pt')\n",
        # Cloned tensors.
        "def fit(model, opt, loader):\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n        best = {k: v.clone() for k, v in model.state_dict().items()}\n    return best\n",
        # No training after the snapshot.
        "def export(model):\n    state = model.state_dict()\n    return state\n",
        # Every use of the snapshot comes before the weights change.
        "import torch\n\ndef check(model, fresh, opt):\n    state = model.state_dict()\n    fresh.load_state_dict(state)\n    torch.save(state, 'a.pt')\n    model(1).backward()\n    opt.step()\n",
        # Taken on every iteration and used before the next step (a helper that saves it); a
        # checkpoint dict saved at once; a list of copies; `.cpu()` copies in a file that uses a GPU.
        "import copy\nimport torch\n\ndef save_checkpoint(state, path):\n    torch.save(state, path)\n\ndef fit(model, opt, loader, epochs):\n    history = []\n    model.cuda()\n    for epoch in range(epochs):\n        for x, y in loader:\n            model(x, y).backward()\n            opt.step()\n        state = model.state_dict()\n        save_checkpoint(state, 'last.pt')\n        ckpt = {'model': model.state_dict(), 'epoch': epoch}\n        torch.save(ckpt, f'epoch{epoch}.pt')\n        history.append(copy.deepcopy(model.state_dict()))\n        best = {k: v.cpu() for k, v in model.state_dict().items()}\n    return history, best\n",
        # A checkpoint dict rebuilt on every epoch (an item added on some epochs only), one
        # deleted after saving, and the last epoch's state kept after the loop (the final weights).
        "import torch\nfrom utils import save_on_master\n\ndef fit(model, opt, scaler, loader, epochs):\n    for epoch in range(epochs):\n        for x, y in loader:\n            model(x, y).backward()\n            opt.step()\n        save_dict = {'model': model.state_dict(), 'epoch': epoch}\n        if scaler is not None:\n            save_dict['scaler'] = scaler.state_dict()\n        save_on_master(save_dict, 'checkpoint.pth')\n        if epoch % 10 == 0:\n            ckpt = {'optimizer': opt.state_dict()}\n            torch.save(ckpt, 'opt.pt')\n            del ckpt\n        last = model.state_dict()\n    return last\n",
        # A callback whose snapshot is used only after training, and one that saves it to a file.
        "import copy\nimport torch\nfrom pytorch_lightning import Callback\n\nclass KeepBest(Callback):\n    def on_validation_end(self, trainer, pl_module):\n        self.best_state = copy.deepcopy(pl_module.state_dict())\n\n    def on_train_end(self, trainer, pl_module):\n        pl_module.load_state_dict(self.best_state)\n\nclass Export(Callback):\n    def on_train_end(self, trainer, pl_module):\n        self.final = pl_module.state_dict()\n\n    def teardown(self, trainer, pl_module, stage):\n        torch.save(self.final, 'final.pt')\n",
    ]
    INVALID = [
        "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nparameter = model.state_dict()  # error\nfor x, y in loader:\n    loss = (model(x) - y).pow(2).mean()\n    loss.backward()\n    optimizer.step()\nmodel.load_state_dict(parameter)\n",
        "def fit(model, opt, loader, evaluate):\n    best_acc, best_state = 0.0, None\n    for epoch in range(10):\n        for x, y in loader:\n            opt.zero_grad()\n            model(x, y).backward()\n            opt.step()\n        acc = evaluate(model)\n        if acc > best_acc:\n            best_acc = acc\n            best_state = model.state_dict().copy()  # error\n    model.load_state_dict(best_state)\n",
        Invalid(
            "import copy\n\ndef fit(model, opt, loader):\n    snapshot = copy.copy(model.state_dict())  # error\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n    return snapshot\n",
            fixed="import copy\n\ndef fit(model, opt, loader):\n    snapshot = copy.deepcopy(model.state_dict())  # error\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n    return snapshot\n",
        ),
        Invalid(
            "import torch\n\ndef fit(model, opt, loader):\n    best = model.state_dict()  # error\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n    return best\n",
            fixed="import torch\nimport copy\n\ndef fit(model, opt, loader):\n    best = copy.deepcopy(model.state_dict())  # error\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n    return best\n",
        ),
        "def fit(model, opt, loader, evaluate):\n    best_model = None\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n        if evaluate(model):\n            best_model = model  # error\n    return best_model\n",
        # Kept in a list, a dict (by key, by literal), and a comprehension that copies no tensor.
        Invalid(
            "import copy\n\ndef fit(model, opt, loader, evaluate, epochs):\n    snapshots, best, ckpts = [], {}, {}\n    for epoch in range(epochs):\n        for x, y in loader:\n            model(x, y).backward()\n            opt.step()\n        snapshots.append(model.state_dict())  # error\n        ckpts[epoch] = model.state_dict()  # error\n        if evaluate(model) > best.get('acc', 0):\n            best['weights'] = model.state_dict()  # error\n            best['acc'] = evaluate(model)\n            last = {'model': model.state_dict(), 'epoch': epoch}  # error\n            frozen = {k: v.detach() for k, v in model.state_dict().items()}  # error\n    model.load_state_dict(best['weights'])\n    return snapshots, ckpts[0], last, frozen\n",
            fixed="import copy\n\ndef fit(model, opt, loader, evaluate, epochs):\n    snapshots, best, ckpts = [], {}, {}\n    for epoch in range(epochs):\n        for x, y in loader:\n            model(x, y).backward()\n            opt.step()\n        snapshots.append(copy.deepcopy(model.state_dict()))  # error\n        ckpts[epoch] = copy.deepcopy(model.state_dict())  # error\n        if evaluate(model) > best.get('acc', 0):\n            best['weights'] = copy.deepcopy(model.state_dict())  # error\n            best['acc'] = evaluate(model)\n            last = {'model': copy.deepcopy(model.state_dict()), 'epoch': epoch}  # error\n            frozen = {k: v.detach() for k, v in model.state_dict().items()}  # error\n    model.load_state_dict(best['weights'])\n    return snapshots, ckpts[0], last, frozen\n",
        ),
        # Taken only when the model improves, used after later epochs trained it further.
        "def save(state):\n    pass\n\ndef fit(model, opt, loader, evaluate):\n    best_state = None\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n        if evaluate(model):\n            best_state = model.state_dict()  # error\n        save(best_state)\n",
        # A callback and a trainer keep the snapshot in an attribute and restore it in another method.
        "from pytorch_lightning import Callback\n\nclass RestoreBest(Callback):\n    def on_validation_end(self, trainer, pl_module):\n        if trainer.callback_metrics['val_acc'] > self.best_acc:\n            self.best_state = pl_module.state_dict()  # error\n\n    def on_train_end(self, trainer, pl_module):\n        pl_module.load_state_dict(self.best_state)\n\nclass Trainer:\n    def __init__(self, model, opt):\n        self.model, self.opt = model, opt\n        self.start = self.model.state_dict()  # error\n\n    def train_epoch(self, loader):\n        for x, y in loader:\n            self.model(x, y).backward()\n            self.opt.step()\n\n    def reset(self):\n        self.model.load_state_dict(self.start)\n",
        # The previous epoch's weights, compared after this epoch trained: they are the same tensors.
        "def fit(model, opt, loader, epochs, distance):\n    prev = None\n    for epoch in range(epochs):\n        for x, y in loader:\n            model(x, y).backward()\n            opt.step()\n        if prev is not None:\n            print(distance(prev, model.state_dict()))\n        prev = model.state_dict()  # error\n",
        # `.cpu()` returns the very same tensor when the model is on the CPU (no device in this file).
        "def fit(model, opt, loader, evaluate):\n    best = None\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n        if evaluate(model):\n            best = {k: v.cpu() for k, v in model.state_dict().items()}  # error\n    return best\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        modes = ModeModel(self.ctx)
        across: list[tuple[FunctionFlow, _Snapshot]] = []
        for flow in self.ctx.flows:
            for snapshot in self._snapshots(modes, flow):
                if self._overwritten_in_flow(modes, flow, snapshot):
                    self._report(snapshot)
                elif snapshot.target.startswith("self.") and flow.owner is not None:
                    across.append((flow, snapshot))
        for flow, snapshot in across:
            if self._overwritten_across_methods(modes, flow, snapshot):
                self._report(snapshot)

    def _report(self, snapshot: _Snapshot) -> None:
        target, source = snapshot.target, snapshot.source
        kept = f"the snapshot in `{target}`" if snapshot.container else f"`{target}`"
        if snapshot.kind == "model":
            message = (
                f"`{target} = {source}` is another name for the same model, not a snapshot: "
                f"training continues and changes it too; keep "
                f"`copy.deepcopy({source}.state_dict())` instead"
            )
        elif snapshot.kind == _ON_CPU:
            message = (
                f"`{target}` keeps the tensors of `{source}` through `.cpu()`, which returns the "
                f"tensor itself when it is already on the CPU (nothing in this file puts the model "
                f"on another device): training continues and updates them in place, so {kept} "
                f"silently becomes the final weights; use `v.detach().clone()` or `copy.deepcopy({source})`"
            )
        elif isinstance(snapshot.node, cst.DictComp):
            message = (
                f"`{target}` keeps the tensors of `{source}` themselves (`v`, `v.detach()` and views "
                f"share their storage): training continues and updates them in place, so {kept} "
                f"silently becomes the final weights; use `v.detach().clone()` or `copy.deepcopy({source})`"
            )
        else:
            message = (
                f"`{target}` keeps `{source}` by reference: training continues and updates those "
                f"tensors in place, so {kept} silently becomes the final weights; use "
                f"`copy.deepcopy({source})`"
            )
        fix = self._fix(snapshot.node, source) if snapshot.fixable else None
        self.report(snapshot.node, message, fix=fix)

    def _fix(self, value: cst.BaseExpression, source: str) -> NodeFix:
        """`copy.deepcopy(<model>.state_dict())`, in the file's own spelling of deepcopy."""
        deepcopy, imports = "copy.deepcopy", ("import copy",)
        for local, target in self.ctx.facts.aliases.items():
            if target == "copy.deepcopy":
                deepcopy, imports = local, ()
                break
            if target == "copy":
                deepcopy, imports = f"{local}.deepcopy", ()
        return NodeFix(f"snapshot with `{deepcopy}`", "safe", ((value, f"{deepcopy}({source})"),), imports)

    # -- finding snapshots -----------------------------------------------------------------

    def _snapshots(self, modes: ModeModel, flow: FunctionFlow) -> list[_Snapshot]:
        found: list[_Snapshot] = []
        anchors: dict[int, int] = {}
        for index, event in enumerate(flow.events):
            if isinstance(event, CallEvent) and event.method == "state_dict" and not event.node.args:
                anchors[id(event.node)] = index
        if anchors:
            found.extend(self._state_dict_snapshots(flow, anchors))
        # `best_model = model`: another name for the live model.
        candidates: list[tuple[int, AssignEvent, str]] = []
        for index, event in enumerate(flow.events):
            if not isinstance(event, AssignEvent) or event.value is None or len(event.targets) != 1:
                continue
            last = event.targets[0].rpartition(".")[2].lower()
            alias = dotted_name(event.value)
            if alias is not None and alias != event.targets[0] and "model" in last and any(w in last for w in _SNAPSHOT_WORDS):
                candidates.append((index, event, alias))
        if candidates:  # who holds a model is asked only then: it is the costly part
            models = modes.constructed_models(flow) | {
                e.func for e in flow.events if isinstance(e, CallEvent) and e.func is not None and e.method is None
            }
            for index, event, alias in candidates:
                if alias in models:
                    found.append(_Snapshot(event.node, index, event.loops, event.targets[0], alias, event.value, "model", True))
        return found

    def _state_dict_snapshots(self, flow: FunctionFlow, anchors: dict[int, int]) -> list[_Snapshot]:
        """Snapshots made of `state_dict()` calls: kept in a name, an attribute, a container."""
        found: list[_Snapshot] = []
        events = flow.events

        def add(
            statement: cst.CSTNode,
            target: cst.BaseExpression | None,
            value: cst.BaseExpression,
            whole: cst.BaseExpression,
            assigned: cst.BaseExpression | None = None,
        ) -> None:
            """``value`` (an item of ``whole``, or ``whole`` itself) kept in ``target`` (the
            assignment's own target ``assigned``, or the container it indexes)."""
            key = dotted_name(target) if target is not None else None
            if key is None:
                return
            view = self._view(value)
            if view is None:
                return
            source, kind, call = view
            index = anchors.get(id(call))
            if index is None:
                return
            fixable = kind == _ALIAS and not isinstance(value, cst.DictComp)
            accumulates = not isinstance(statement, (cst.Assign, cst.AnnAssign)) or target is not assigned
            container = accumulates or value is not whole
            found.append(
                _Snapshot(
                    statement, index, events[index].loops, key, f"{source}.state_dict()", value, kind, fixable,
                    container, accumulates,
                )
            )

        def elements(value: cst.BaseExpression) -> list[cst.BaseExpression]:
            if isinstance(value, cst.Dict):
                return [e.value for e in value.elements if isinstance(e, cst.DictElement)]
            if isinstance(value, (cst.List, cst.Tuple)):
                return [e.value for e in value.elements if isinstance(e, cst.Element)]
            return [value]

        def enter(node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not flow.node:
                return False
            if isinstance(node, (cst.Assign, cst.AnnAssign)):
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                if len(targets) == 1 and node.value is not None:
                    target = targets[0]
                    while isinstance(target, cst.Subscript):  # `best["weights"] = ...`: the dict keeps it
                        target = target.value
                    for value in elements(node.value):
                        add(node, target, value, node.value, targets[0])
                return False
            if isinstance(node, cst.Expr):
                call = node.value
                if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value in _ADDERS:
                    if call.args and not call.args[-1].star:
                        for value in elements(call.args[-1].value):
                            add(node, call.func.value, value, call.args[-1].value)
                return False
            return not isinstance(node, cst.BaseSmallStatement)

        walker.walk(flow.node, enter)
        return found

    def _view(self, value: cst.BaseExpression) -> tuple[str, str, cst.Call] | None:
        """(`model`, how it aliases, the `state_dict()` call) when ``value`` shares the tensors of
        `model.state_dict()`."""
        source = _state_dict_source(self.ctx, value)
        if source is not None:
            return source, _ALIAS, _find_state_dict_call(value)  # type: ignore[return-value]
        view = _comprehension_view(self.ctx, value)
        if view is None:
            return None
        if view[1] == _ON_CPU and not self._cpu_only():
            return None  # on a GPU, `.cpu()` copies
        return view[0], view[1], value.for_in.iter.func.value  # type: ignore[attr-defined]

    def _cpu_only(self) -> bool:
        source = self.ctx.source
        return not any(word in source for word in ("cuda", "device", "mps", "xla", "accelerator"))

    # -- training continues ----------------------------------------------------------------

    def _overwritten_in_flow(self, modes: ModeModel, flow: FunctionFlow, snapshot: _Snapshot) -> bool:
        """Whether the function trains after the snapshot and reads it once the weights changed."""
        steps = [i for i, e in enumerate(flow.events) if isinstance(e, CallEvent) and self._trains(modes, flow, e)]
        if not steps:
            return False
        training_loops = [
            loop for loop in snapshot.loops if any(loop in flow.events[s].loops for s in steps)
        ]
        later = [s for s in steps if s > snapshot.anchor]
        if not (later or training_loops):
            return False
        step_ids = {id(flow.events[s].node) for s in steps}
        loop = training_loops[-1] if training_loops else None  # the innermost loop that trains
        conditional = loop is not None and (snapshot.accumulates or _conditional_in(loop, snapshot.statement))
        return self._read_after(flow.node, snapshot, step_ids, loop, conditional)

    def _overwritten_across_methods(self, modes: ModeModel, flow: FunctionFlow, snapshot: _Snapshot) -> bool:
        """For `self.x = model.state_dict()`: whether another method of the class reads `self.x`
        while training continues between the two (the class trains, or the attribute is named
        like a snapshot and not taken after training is over)."""
        owner = flow.owner
        methods = methods_of(self.ctx, owner)  # type: ignore[arg-type]
        others = [m for m in methods.values() if m is not flow]
        if not any(_restored_in(m.node, snapshot.target) for m in others):
            return False
        trains = any(
            isinstance(e, CallEvent) and self._trains(modes, m, e) for m in methods.values() for e in m.events
        )
        if trains:
            return True
        last = snapshot.target.rpartition(".")[2].lower()
        return any(w in last for w in _SNAPSHOT_WORDS) and flow.name not in _END_HOOKS

    def _trains(self, modes: ModeModel, flow: FunctionFlow, event: CallEvent) -> bool:
        if is_training_step(event):
            return True
        callee = modes.callee(flow, event)
        return callee is not None and modes.summary(callee).trains

    # -- reads -----------------------------------------------------------------------------

    def _is_read(self, node: cst.CSTNode, target: str) -> bool:
        return isinstance(node, (cst.Name, cst.Attribute)) and dotted_name(node) == target

    def _skip(self, node: cst.CSTNode, snapshot: _Snapshot, visit) -> bool:  # type: ignore[no-untyped-def]
        """Handle nodes that are not reads of the snapshot; True when ``node`` was handled."""
        target = snapshot.target
        if node is snapshot.statement:
            return True
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
            for part in (node.value,) if node.value is not None else ():
                walker.walk(part, visit)
            return True  # targets are writes
        if isinstance(node, cst.Expr):
            call = node.value
            if (
                isinstance(call, cst.Call)
                and isinstance(call.func, cst.Attribute)
                and call.func.attr.value in _WRITERS
                and dotted_name(call.func.value) == target
            ):
                for arg in call.args:
                    walker.walk(arg, visit)
                return True  # `snapshots.append(...)`, `snapshots.pop(0)`: the container changes
        if isinstance(node, cst.Call) and self.ctx.qualified_name(node.func) in _NOT_READS:
            return True
        return False

    def _read_after(
        self,
        root: cst.CSTNode,
        snapshot: _Snapshot,
        step_ids: set[int],
        loop: cst.CSTNode | None,
        conditional: bool,
    ) -> bool:
        """Whether the snapshot is read where the weights may have changed since it was taken, by
        source positions: after a training step that follows it; and, in a loop that trains,
        through the loop's back edge (a read earlier in the body, in the next iteration, with a
        step in between), after the loop, or -- when it is taken on some iterations only -- from
        an earlier iteration. An unconditional re-assignment of the whole target in the loop
        (`ckpt = {...}` every iteration, `del ckpt`) ends what an earlier snapshot left there."""
        position = 0
        taken = -1
        inside = False
        start = end = -1
        steps: list[tuple[int, bool]] = []
        resets: list[int] = []  # unconditional in the loop
        reads: list[tuple[int, bool]] = []
        target = snapshot.target

        def visit(node: cst.CSTNode) -> bool:
            nonlocal position, taken, inside, start
            position += 1
            if node is snapshot.statement:
                taken = position
                return False
            if node is loop:
                inside, start = True, position
            elif id(node) in step_ids:
                steps.append((position, inside))
            if inside and isinstance(node, (cst.Assign, cst.AnnAssign, cst.Del)):
                targets = (
                    [t.target for t in node.targets] if isinstance(node, cst.Assign)
                    else [node.target]  # type: ignore[union-attr]
                )
                whole = any(dotted_name(t) == target for t in targets if isinstance(t, (cst.Name, cst.Attribute)))
                if whole and not _conditional_in(loop, node):  # type: ignore[arg-type]
                    resets.append(position)
            if isinstance(node, cst.Del):
                return False
            if self._skip(node, snapshot, visit):
                return False
            if self._is_read(node, target):
                reads.append((position, inside))
                return False
            return True

        def leave(node: cst.CSTNode) -> None:
            nonlocal inside, end
            if node is loop:
                inside, end = False, position

        walker.walk(root, visit, leave, frozenset({type(loop)}) if loop is not None else frozenset())
        if taken < 0:
            return False
        if loop is None:
            return any(r > taken and any(taken < t < r for t, _ in steps) for r, _ in reads)
        trained = [t for t, within in steps if within]
        if not trained:
            return False

        def clear(first: int, last: int) -> bool:
            """No reset strictly between two positions of the loop body."""
            return not any(first < p < last for p in resets)

        def wraps(first: int, last: int) -> bool:
            """No reset from ``first`` to the end of the body, nor from its start to ``last``."""
            return not any(p > first or p < last for p in resets)

        stale_from_earlier = conditional and not resets  # survives iterations that do not retake it
        for read, within in reads:
            if not within and read < start:
                continue  # before the loop
            if stale_from_earlier:
                return True
            if not within:  # after the loop: the last snapshot, then steps later in that iteration
                if any(t > taken and not any(p > t for p in resets) for t in trained):
                    return True
            elif read > taken:  # later in the same iteration
                if any(taken < t < read and clear(t, read) for t in trained):
                    return True
            else:  # earlier in the body: the next iteration
                if any((t > taken and wraps(t, read)) or (t < read and clear(t, read)) for t in trained):
                    return True
        return False


def _find_state_dict_call(value: cst.BaseExpression) -> cst.Call | None:
    for node in walker.iter_nodes(value):
        if _state_dict_call(node) is not None:  # type: ignore[arg-type]
            return node  # type: ignore[return-value]
    return None


def _restored_in(root: cst.CSTNode, target: str) -> bool:
    """Whether ``root`` restores ``target`` (`m.load_state_dict(target)`) or returns it."""

    def mentions(node: cst.CSTNode) -> bool:
        return any(
            isinstance(inner, (cst.Name, cst.Attribute)) and dotted_name(inner) == target
            for inner in walker.iter_nodes(node)
        )

    for node in walker.iter_nodes(root):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "load_state_dict"
            and any(mentions(arg) for arg in node.args)
        ):
            return True
        if isinstance(node, cst.Return) and node.value is not None and mentions(node.value):
            return True
    return False


def _conditional_in(loop: cst.CSTNode, statement: cst.CSTNode) -> bool:
    """Whether ``statement`` runs only on some iterations of ``loop``: inside an if / try / loop /
    match within it."""

    def search(statements: list[cst.CSTNode], conditional: bool) -> bool | None:
        for stmt in statements:
            if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                if any(small is statement for small in stmt.body):
                    return conditional
                continue
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            inner = conditional or not isinstance(stmt, cst.With)
            for block in inner_blocks(stmt):
                found = search(block, inner)
                if found is not None:
                    return found
        return None

    return bool(search(suite_statements(loop.body), False))  # type: ignore[attr-defined]
