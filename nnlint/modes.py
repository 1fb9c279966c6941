"""Train/eval mode of models through a function, in source order.

Shared by the rules about mode (NN201, NN203): which variables hold a model, and what each call
does to its mode -- `model.eval()`, `model.train()`, a same-file helper that switches it, a
training step. Where a model goes somewhere nnlint cannot see, its mode becomes unknown and the
rules stay silent. ``ModeTimeline`` lays these out as one ordered list per function with helpers
expanded (NN203); ``known_models`` answers "does this name certainly hold a module" (NN206, NN304).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.classes import ProjectClasses
from nnlint.flow import AssignEvent, CallEvent, FunctionFlow, flows_by_name, methods_of
from nnlint.names import dotted_name
from nnlint.patterns import module_class_call, module_construction
from nnlint.summaries import EVAL, EXPLICIT_TRAIN, MODE_NEUTRAL_CALLS, UNKNOWN, FunctionFacts, is_inference_name

if TYPE_CHECKING:
    from nnlint.context import FileContext
    from nnlint.semantic import ClassInfo

TRAIN = "train"
STEP_METHODS = frozenset({"backward", "step"})


def mode_change(event: CallEvent) -> str | None:
    """EVAL or EXPLICIT_TRAIN when ``event`` is `x.eval()` / `x.train(...)`, else None."""
    if event.method == "eval" and not event.node.args:
        return EVAL
    if event.method == "train":
        args = event.node.args
        if not args:
            return EXPLICIT_TRAIN
        value = args[0].value
        if isinstance(value, cst.Name) and value.value == "False":
            return EVAL
        if isinstance(value, cst.Name) and value.value == "True":
            return EXPLICIT_TRAIN
        return UNKNOWN
    return None


def is_training_step(event: CallEvent) -> bool:
    """`loss.backward()` or `optimizer.step()` (a scheduler's step is not a training step)."""
    if event.method not in STEP_METHODS or event.receiver is None:
        return False
    if event.method == "step":
        return "sched" not in event.receiver.lower()
    return True


@dataclass
class HelperSummary:
    """What a same-file function does to the models it is given (by parameter or self attribute)."""

    effect: dict[str, str] = field(default_factory=dict)  # key -> last mode set
    infers: dict[str, CallEvent] = field(default_factory=dict)  # key -> first inference call before eval
    trains: bool = False


def bind_arguments(params: list[str] | tuple[str, ...], event: CallEvent) -> dict[str, str]:
    """The callee's parameter names -> the caller's variables passed to them (positionally or
    by keyword; arguments that are not plain names are left out)."""
    mapping: dict[str, str] = {}
    positional = [arg for arg in event.node.args if arg.keyword is None and not arg.star]
    for param, arg in zip(params, positional):
        key = dotted_name(arg.value)
        if key is not None:
            mapping[param] = key
    for arg in event.node.args:
        if arg.keyword is not None:
            key = dotted_name(arg.value)
            if key is not None:
                mapping[arg.keyword.value] = key
    return mapping


class ModeModel:
    """Per-file mode analysis; summaries of helpers are computed on demand and memoised."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.functions = flows_by_name(ctx)
        self.classes = ctx.shared(ProjectClasses)
        self._summaries: dict[int, HelperSummary] = {}
        self._in_progress: set[int] = set()
        self._globals: dict[str, list[cst.BaseExpression]] | None = None

    # -- who is a model --------------------------------------------------------------------

    def constructions(self, flow: FunctionFlow) -> dict[str, list[cst.BaseExpression]]:
        """Variables assigned a Module constructor (`model = Net()`) in this flow -> the values."""
        found: dict[str, list[cst.BaseExpression]] = {}
        for event in flow.events:
            if isinstance(event, AssignEvent) and event.value is not None:
                if module_class_call(self.ctx, event.value) is not None:
                    for target in event.targets:
                        found.setdefault(target, []).append(event.value)
        return found

    def constructed_models(self, flow: FunctionFlow) -> set[str]:
        return set(self.constructions(flow))

    def attribute_constructions(self, flow: FunctionFlow) -> dict[str, list[cst.BaseExpression]]:
        """`self.model`-style attributes that the method's (non-Module) class assigns a Module."""
        owner = flow.owner
        if owner is None or self.ctx.is_module_class(owner):
            return {}
        found: dict[str, list[cst.BaseExpression]] = {}
        for method in methods_of(self.ctx, owner).values():
            for key, values in self.constructions(method).items():
                if key.startswith("self."):
                    found.setdefault(key, []).extend(values)
        return found

    def attribute_models(self, flow: FunctionFlow) -> set[str]:
        return set(self.attribute_constructions(flow))

    def global_constructions(self) -> dict[str, list[cst.BaseExpression]]:
        """Module-level variables of a script assigned a Module (`model = Net()` at top level or
        under `if __name__ == "__main__":`), which functions may read."""
        if self._globals is None:
            self._globals = {k: v for k, v in self.constructions(self.ctx.flows[0]).items() if "." not in k}
        return self._globals

    def mode_sensitive(self, values: list[cst.BaseExpression]) -> bool:
        """Whether a model built by any of ``values`` may act differently in eval mode (dropout,
        batch norm, a `self.training` branch, or a class nnlint cannot see)."""
        return any(self.classes.expression_sensitive(value) for value in values)

    def sensitive_models(self, flow: FunctionFlow) -> set[str]:
        """The models of this flow (built here, or `self.x` built by the class) that eval() affects."""
        found = {**self.constructions(flow), **self.attribute_constructions(flow)}
        return {key for key, values in found.items() if self.mode_sensitive(values)}

    def never_switched_attributes(self, flow: FunctionFlow) -> set[str]:
        """`self.x` models of a (non-Module) class that nothing in the file ever switches: no
        `.eval()` / `.train(...)` on them (under any receiver: `trainer.model.eval()`), and
        neither they nor `self` handed to code that might."""
        owner = flow.owner
        attributes = self.attribute_models(flow)
        if owner is None or not attributes:
            return set()
        names = {key.partition(".")[2] for key in attributes}
        switched: set[str] = set()
        for other in self.ctx.flows:
            for event in other.calls():
                if mode_change(event) is not None and event.receiver is not None:
                    if event.receiver == "self":
                        switched.add("*")
                    elif "." in event.receiver:  # `self.model.eval()`, `trainer.model.train(False)`
                        switched.add(event.receiver.split(".")[-1])
                        switched.add(event.receiver.split(".")[1])
        methods = methods_of(self.ctx, owner)
        for method in methods.values():
            for event in method.calls():
                if event.func in MODE_NEUTRAL_CALLS or (event.receiver == "self" and event.method in methods):
                    continue
                for arg in event.node.args:
                    key = dotted_name(arg.value)
                    if key == "self":
                        switched.add("*")
                    elif key is not None and key.startswith("self."):
                        switched.add(key.split(".")[1])
        if "*" in switched:
            return set()
        return {f"self.{name}" for name in names - switched}

    def visible_globals(self, flow: FunctionFlow) -> set[str]:
        """Module-level models that ``flow`` reads as globals (it never assigns them itself)."""
        if flow is self.ctx.flows[0]:
            return set()
        assigned = {t.partition(".")[0] for e in flow.events if isinstance(e, AssignEvent) for t in e.targets}
        return {name for name in self.global_constructions() if name not in assigned and name not in flow.params}

    # -- helpers ---------------------------------------------------------------------------

    def callee(self, flow: FunctionFlow, event: CallEvent) -> FunctionFlow | None:
        if event.func is None:
            return None
        if "." not in event.func:
            return self.functions.get(event.func)
        if flow.owner is not None and event.receiver == "self" and event.method is not None:
            return methods_of(self.ctx, flow.owner).get(event.method)
        return None

    def bindings(self, callee: FunctionFlow, event: CallEvent) -> dict[str, str]:
        """Map the callee's parameter names (and self attributes) to the caller's variables."""
        params = list(callee.params)
        if callee.owner is not None and params and params[0] == "self":
            params = params[1:]
        return bind_arguments(params, event)

    def foreign_helper(self, event: CallEvent) -> FunctionFacts | None:
        """The summary of a function of another project file that ``event`` calls
        (`from utils import evaluate` ... `evaluate(model, loader)`)."""
        if event.func is None or event.receiver == "self":
            return None
        qualname = self.ctx.qualified_name(event.node.func)
        if qualname is None or "." not in qualname or qualname.partition(".")[0] in ("torch", "self"):
            return None
        return self.classes.function_facts(qualname)

    def summary(self, flow: FunctionFlow) -> HelperSummary:
        key = id(flow.node)
        if key in self._summaries:
            return self._summaries[key]
        if key in self._in_progress:  # recursion: assume nothing
            return HelperSummary()
        self._in_progress.add(key)
        summary = HelperSummary()
        watched = set(flow.params) | self.attribute_models(flow) | self.visible_globals(flow)
        states: dict[str, str] = {}
        for event in flow.events:
            if not isinstance(event, CallEvent):
                continue
            if is_training_step(event):
                summary.trains = True
                # Trained after `model.train()`: plain training mode from here (not MC dropout).
                states = {k: TRAIN if v == EXPLICIT_TRAIN else v for k, v in states.items()}
            change = mode_change(event)
            if change is not None and event.receiver in watched:
                states[event.receiver] = change
                continue
            target = self.callee(flow, event)
            if target is not None:
                inner = self.summary(target)
                summary.trains |= inner.trains
                for param, outer in self.translate(target, event).items():
                    if outer in watched and param in inner.effect:
                        states[outer] = inner.effect[param]
                continue
            if event.func in watched and event.func not in states and self.is_inference(flow, event):
                if is_prediction(self.ctx, flow, event.node):
                    summary.infers.setdefault(event.func, event)
        summary.effect = states
        self._in_progress.discard(key)
        self._summaries[key] = summary
        return summary

    def translate(self, callee: FunctionFlow, event: CallEvent) -> dict[str, str]:
        mapping = self.bindings(callee, event)
        if callee.owner is not None:
            for attr in self.attribute_models(callee):
                mapping.setdefault(attr, attr)
        for name in self.visible_globals(callee):
            mapping.setdefault(name, name)  # the same global, as the caller sees it
        return mapping

    # -- inference context -----------------------------------------------------------------

    def is_inference(self, flow: FunctionFlow, event: CallEvent) -> bool:
        return event.no_grad or is_inference_name(flow.name)


# Attributes of an output that describe it without using its values (a shape smoke test).
_DESCRIPTIVE_ATTRIBUTES = frozenset("shape size dtype device ndim dim numel is_cuda".split())


class _Uses(cst.CSTVisitor):
    """Within one function: the statement holding ``call``, what the call's value flows into,
    and where a variable is read."""

    def __init__(self, call: cst.Call) -> None:
        self.call = call
        self.parents: list[cst.CSTNode] = []
        self.statement: cst.CSTNode | None = None
        self.parent: cst.CSTNode | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        if node is self.call:
            self.parent = self.parents[-1] if self.parents else None
            self.statement = next(
                (p for p in reversed(self.parents) if isinstance(p, (cst.SimpleStatementLine, cst.SimpleStatementSuite))), None
            )
            return False
        self.parents.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self.parents and self.parents[-1] is original_node:
            self.parents.pop()


class _Reads(cst.CSTVisitor):
    """Reads of the variable ``name``: how many, and how many only describe it (`y.shape`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reads = 0
        self.descriptive: set[int] = set()
        self.targets: set[int] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == self.name and node.attr.value in _DESCRIPTIVE_ATTRIBUTES:
            self.descriptive.add(id(node.value))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self.targets.add(id(node.target))

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name and id(node) not in self.targets and id(node) not in self.descriptive:
            self.reads += 1


def is_prediction(ctx: FileContext, flow: FunctionFlow, call: cst.Call) -> bool:
    """False when the output of a forward call is not used as a prediction: dropped (a dry run
    that initialises lazy modules or warms up), or only described (`out.shape`, `y.size()`: a
    shape smoke test). True when nnlint cannot tell."""
    uses = _Uses(call)
    flow.node.visit(uses)
    statement, parent = uses.statement, uses.parent
    if statement is None or len(statement.body) != 1:  # type: ignore[attr-defined]
        return True
    small = statement.body[0]  # type: ignore[attr-defined]
    if isinstance(small, cst.Expr) and small.value is call:
        return False
    if isinstance(parent, cst.Attribute) and parent.attr.value in _DESCRIPTIVE_ATTRIBUTES:
        return False
    if isinstance(small, cst.Assign) and small.value is call and len(small.targets) == 1:
        target = small.targets[0].target
        if isinstance(target, cst.Name):
            reads = _Reads(target.value)
            flow.node.visit(reads)
            return reads.reads > 0
    return True


# -- variables known to hold a module (NN206, NN304) ----------------------------------------


def self_module_attributes(ctx: FileContext, owner: ClassInfo) -> set[str]:
    """`self.x` attributes that some method of ``owner`` assigns a Module (any class, Module or not)."""
    found: set[str] = set()
    for method in methods_of(ctx, owner).values():
        for event in method.events:
            if isinstance(event, AssignEvent) and event.value is not None:
                if module_construction(ctx, event.value) is not None:
                    found.update(t for t in event.targets if t.startswith("self."))
    return found


def known_models(ctx: FileContext, flow: FunctionFlow) -> set[str]:
    """Names that certainly hold a Module in ``flow``: assigned a Module constructor here
    (`model = Net().to(device)`), `self.x` attributes the class assigns a Module, parameters
    annotated with a Module class, and `self` in a Module's own methods."""
    found: set[str] = set()
    for event in flow.events:
        if isinstance(event, AssignEvent) and event.value is not None:
            if module_construction(ctx, event.value) is not None:
                found.update(event.targets)
    if flow.owner is not None:
        found |= self_module_attributes(ctx, flow.owner)
        if ctx.is_module_class(flow.owner) and flow.params[:1] == ["self"]:
            found.add("self")
    if isinstance(flow.node, cst.FunctionDef):
        params = flow.node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.annotation is not None and _is_module_annotation(ctx, param.annotation.annotation):
                found.add(param.name.value)
    # Rebinding to something else (`model = model.module`, `model = None`) is not tracked: a
    # name is only known when every assignment to it in this flow builds a Module.
    for event in flow.events:
        if isinstance(event, AssignEvent):
            for target in event.targets:
                if target in found and (event.value is None or module_construction(ctx, event.value) is None):
                    found.discard(target)
    module_flow = ctx.flows[0]
    if flow is not module_flow:
        # A script's module-level model, read as a global by this function.
        assigned = {t.partition(".")[0] for e in flow.events if isinstance(e, AssignEvent) for t in e.targets}
        local = assigned | set(flow.params) | _all_params(flow)
        found |= {name for name in known_models(ctx, module_flow) if "." not in name and name not in local}
    return found


def _all_params(flow: FunctionFlow) -> set[str]:
    if not isinstance(flow.node, cst.FunctionDef):
        return set()
    params = flow.node.params
    names = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    return names


def _is_module_annotation(ctx: FileContext, annotation: cst.BaseExpression) -> bool:
    name = ctx.qualified_name(annotation)
    if name is None and isinstance(annotation, cst.SimpleString):
        name = ctx.facts.resolve(annotation.evaluated_value) if isinstance(annotation.evaluated_value, str) else None
    return name is not None and name.rpartition(".")[2][:1].isupper() and ctx.is_module_class_name(name)


# -- timeline: what happens to models, in order, through same-file helpers (NN203) ---------

STEP, FORWARD, UNSEEN = "step", "forward", "unseen"
ANY_MODEL = "*"  # an UNSEEN action that may touch every model


@dataclass
class ModeAction:
    """One thing that happens to models: a mode switch (EVAL / EXPLICIT_TRAIN / UNKNOWN), a
    training STEP, a FORWARD call, or UNSEEN (the variable is rebound, or reaches code nnlint
    cannot see, which may switch its mode)."""

    kind: str
    key: str | None  # the variable as the analysed flow names it; None for STEP
    event: CallEvent | AssignEvent  # where it happens in the analysed flow (a helper's call site)
    origin: CallEvent | AssignEvent  # where it happens in the source (inside the helper)
    helper: FunctionFlow | None  # the outermost same-file helper it happens in
    no_grad: bool


def same_model(first: str | None, second: str | None) -> bool:
    """Whether two keys may name the same model or one inside the other (`model`,
    `model.module`, `self` and `self.model`)."""
    if first is None or second is None:
        return False
    if first == ANY_MODEL or second == ANY_MODEL:
        return True
    return first == second or first.startswith(second + ".") or second.startswith(first + ".")


# Calls that see a model without switching its mode (besides the helpers nnlint reads).
_TIMELINE_NEUTRAL_CALLS = MODE_NEUTRAL_CALLS | frozenset(
    "logger.info logging.info logger.debug tqdm enumerate zip iter next range".split()
)


class ModeTimeline:
    """Per flow, the ordered ModeActions, with same-file helpers (module-level functions,
    methods called on `self`, uniquely named nested functions) expanded in place. Memoised."""

    def __init__(self, model: ModeModel) -> None:
        self.model = model
        self.ctx = model.ctx
        self._timelines: dict[int, list[ModeAction]] = {}
        self._in_progress: set[int] = set()
        self._locals: dict[int, set[str]] = {}
        self._attributes: dict[int, set[str]] = {}
        nested: dict[str, list[FunctionFlow]] = {}
        for flow in self.ctx.flows:
            if isinstance(flow.node, cst.FunctionDef) and flow.owner is None and flow.name not in model.functions:
                nested.setdefault(flow.name, []).append(flow)
        self._nested = nested
        module_flow = self.ctx.flows[0]
        self._module_names = {
            target.partition(".")[0]
            for event in module_flow.events
            if isinstance(event, AssignEvent)
            for target in event.targets
        }

    def of(self, flow: FunctionFlow) -> list[ModeAction]:
        key = id(flow.node)
        cached = self._timelines.get(key)
        if cached is not None:
            return cached
        if key in self._in_progress:  # recursion: assume nothing
            return []
        self._in_progress.add(key)
        actions: list[ModeAction] = []
        for event in flow.events:
            self._add(flow, event, actions)
        self._in_progress.discard(key)
        self._timelines[key] = actions
        return actions

    def _add(self, flow: FunctionFlow, event: CallEvent | AssignEvent, actions: list[ModeAction]) -> None:
        if isinstance(event, AssignEvent):
            actions.extend(ModeAction(UNSEEN, target, event, event, None, event.no_grad) for target in event.targets)
            return
        change = mode_change(event)
        if change is not None and event.receiver is not None:
            actions.append(ModeAction(change, event.receiver, event, event, None, event.no_grad))
            return
        callee = self._callee(flow, event)
        if callee is not None:
            for inner in self.of(callee):
                key = self._translate(inner.key, flow, callee, event)
                if inner.kind == STEP or key is not None:
                    no_grad = event.no_grad or inner.no_grad
                    actions.append(ModeAction(inner.kind, key, event, inner.origin, callee, no_grad))
            return
        if event.func is not None and "." not in event.func and event.func in self._nested:
            actions.append(ModeAction(UNSEEN, ANY_MODEL, event, event, None, event.no_grad))
            return
        if is_training_step(event):
            actions.append(ModeAction(STEP, None, event, event, None, event.no_grad))
            return
        direct_self_call = event.func is not None and event.func == f"self.{event.method}"
        if event.method is None or (direct_self_call and event.method in self._self_attributes(flow)):
            if event.func is not None:
                actions.append(ModeAction(FORWARD, event.func, event, event, None, event.no_grad))
        elif event.method == "forward" and event.receiver is not None:
            actions.append(ModeAction(FORWARD, event.receiver, event, event, None, event.no_grad))
        elif direct_self_call and flow.owner is not None:
            # A method nnlint cannot see (inherited from another file) may switch any of self's models.
            actions.append(ModeAction(UNSEEN, "self", event, event, None, event.no_grad))
        if event.func not in _TIMELINE_NEUTRAL_CALLS:
            for arg in event.node.args:
                key = dotted_name(arg.value)
                if key is not None:
                    actions.append(ModeAction(UNSEEN, key, event, event, None, event.no_grad))

    def _callee(self, flow: FunctionFlow, event: CallEvent) -> FunctionFlow | None:
        callee = self.model.callee(flow, event)
        if callee is None and event.func is not None and len(self._nested.get(event.func, ())) == 1:
            callee = self._nested[event.func][0]
        return callee

    def _translate(self, key: str | None, caller: FunctionFlow, callee: FunctionFlow, event: CallEvent) -> str | None:
        """The caller's name for the callee's ``key``; None when it is the callee's own local."""
        if key is None or key == ANY_MODEL:
            return key
        root, dot, rest = key.partition(".")
        bound = self.model.bindings(callee, event)
        if root in bound:
            return bound[root] + dot + rest
        if root == "self":
            shared_self = callee.owner is not None and caller.owner is not None and event.receiver == "self"
            return key if shared_self else None
        if root in self._local_names(callee):
            return None
        if callee.name in self._nested and callee.name not in self.model.functions:
            return key  # a closure reads the caller's variables
        if root in self._module_names and (caller is self.ctx.flows[0] or root not in self._local_names(caller)):
            return key  # a module-level global both functions see
        return None

    def _local_names(self, flow: FunctionFlow) -> set[str]:
        key = id(flow.node)
        names = self._locals.get(key)
        if names is None:
            names = set()
            if isinstance(flow.node, cst.FunctionDef):
                params = flow.node.params
                every = (*params.posonly_params, *params.params, *params.kwonly_params)
                names.update(p.name.value for p in every)
                for star in (params.star_arg, params.star_kwarg):
                    if isinstance(star, cst.Param):
                        names.add(star.name.value)
                names.update(
                    target.partition(".")[0]
                    for event in flow.events
                    if isinstance(event, AssignEvent)
                    for target in event.targets
                )
            self._locals[key] = names
        return names

    def _self_attributes(self, flow: FunctionFlow) -> set[str]:
        """Attribute names the class of ``flow`` assigns on `self` (so `self.x(...)` calls a stored
        object, not a method)."""
        owner = flow.owner
        if owner is None:
            return set()
        key = id(owner)
        names = self._attributes.get(key)
        if names is None:
            names = {
                target.split(".")[1]
                for method in methods_of(self.ctx, owner).values()
                for event in method.events
                if isinstance(event, AssignEvent)
                for target in event.targets
                if target.startswith("self.") and target.count(".") >= 1
            }
            self._attributes[key] = names
        return names
