from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.flow import AssignEvent, CallEvent, FunctionFlow
from nnlint.modes import ModeModel, is_training_step
from nnlint.names import dotted_name
from nnlint.rule import Invalid, NodeFix, Rule

_SHALLOW_COPIES = frozenset({"dict", "copy.copy", "collections.OrderedDict", "OrderedDict"})
_SAVE_CALLS = frozenset({"torch.save"})
_SNAPSHOT_WORDS = ("best", "snapshot", "prev", "old", "init", "saved", "orig", "backup", "checkpoint", "ckpt")


def _state_dict_source(ctx, value: cst.BaseExpression) -> str | None:  # type: ignore[no-untyped-def]
    """`model` when ``value`` is a shallow view of `model.state_dict()`."""
    node = value
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "copy" and not node.args:
        node = node.func.value
    elif isinstance(node, cst.Call) and ctx.qualified_name(node.func) in _SHALLOW_COPIES and len(node.args) == 1:
        node = node.args[0].value
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "state_dict"
        and not node.args
    ):
        return dotted_name(node.func.value)
    return None


class StateDictSnapshotAlias(Rule):
    code = "NN301"
    name = "state-dict-snapshot-alias"
    summary = "a `state_dict()` kept as a snapshot aliases the live weights that training keeps changing"
    what = (
        "Flags `best = model.state_dict()` (and `.copy()`, `dict(...)`, `copy.copy(...)` of it, and "
        "`best_model = model`) when training continues afterwards -- a later `backward()`/`step()` "
        "in the same function, or the snapshot sits in a loop that trains -- and the snapshot is "
        "used later (restored, returned, compared)."
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
    triggers = ("step", "backward")  # it reports only where training steps follow the snapshot
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
    ]

    def leave_Module(self, node: cst.Module) -> None:
        modes = ModeModel(self.ctx)
        for flow in self.ctx.flows:
            self._scan(modes, flow)

    def _scan(self, modes: ModeModel, flow: FunctionFlow) -> None:
        snapshots: list[tuple[int, AssignEvent, str, str]] = []
        # Names that hold a model here: constructed as one, or called like one (`model(x)`).
        models = modes.constructed_models(flow) | {
            e.func for e in flow.events if isinstance(e, CallEvent) and e.func is not None and e.method is None
        }
        for index, event in enumerate(flow.events):
            if not isinstance(event, AssignEvent) or event.value is None or len(event.targets) != 1:
                continue
            target = event.targets[0]
            source = _state_dict_source(self.ctx, event.value)
            if source is not None:
                snapshots.append((index, event, target, f"{source}.state_dict()"))
                continue
            alias = dotted_name(event.value)
            last = target.rpartition(".")[2].lower()
            if alias in models and alias != target and any(w in last for w in _SNAPSHOT_WORDS) and "model" in last:
                snapshots.append((index, event, target, alias))
        if not snapshots:
            return
        steps = [i for i, e in enumerate(flow.events) if isinstance(e, CallEvent) and self._trains(modes, flow, e)]
        if not steps:
            return
        for index, event, target, source in snapshots:
            later = any(step > index for step in steps)
            in_training_loop = any(
                flow.events[step].loops and set(event.loops) & set(flow.events[step].loops) for step in steps
            )
            if not (later or in_training_loop):
                continue
            # Reads count from the moment the weights can have changed: the snapshot itself when
            # the loop around it trains (the next iteration changes them), else the next step.
            arm = event.node if in_training_loop else flow.events[min(s for s in steps if s > index)].node
            if not self._read_after(flow, event, target, arm):
                continue
            if source.endswith(".state_dict()"):
                message = (
                    f"`{target}` keeps `{source}` by reference: training continues and updates those "
                    f"tensors in place, so `{target}` silently becomes the final weights; use "
                    f"`copy.deepcopy({source})`"
                )
            else:
                message = (
                    f"`{target} = {source}` is another name for the same model, not a snapshot: "
                    f"training continues and changes it too; keep "
                    f"`copy.deepcopy({source}.state_dict())` instead"
                )
            self.report(event.value, message, fix=self._fix(event.value, source))  # type: ignore[arg-type]

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

    def _trains(self, modes: ModeModel, flow: FunctionFlow, event: CallEvent) -> bool:
        if is_training_step(event):
            return True
        callee = modes.callee(flow, event)
        return callee is not None and modes.summary(callee).trains

    def _read_after(self, flow: FunctionFlow, snapshot: AssignEvent, target: str, arm: cst.CSTNode) -> bool:
        """Whether ``target`` is read, other than by `torch.save`, after ``arm`` in source order."""
        armed = reads = False

        def enter(node: cst.CSTNode) -> bool:
            nonlocal armed, reads
            if reads:
                return False
            if node is arm:
                armed = True
            if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
                if node is snapshot.node:
                    return False
                value = node.value
                if value is not None:
                    walker.walk(value, enter)
                return False
            if isinstance(node, cst.Call) and self.ctx.qualified_name(node.func) in _SAVE_CALLS:
                return False
            if armed and isinstance(node, (cst.Name, cst.Attribute)) and dotted_name(node) == target:
                reads = True
                return False
            return True

        walker.walk(flow.node, enter)
        return reads
