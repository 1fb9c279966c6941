"""What a function does to gradients, in source order -- shared by the NN4xx rules.

For every function (and module-level code) this lists the training events: back-propagation,
optimizer steps, gradient clearing, scheduler steps, gradient clipping, optimizer and model
construction. Each event knows where it sits: the loops around it, the if/try arms it is in, and
whether gradients are disabled there. A call of a same-file helper (a module-level function, a
function nested in this one, or a method of the same class through ``self``) stands for the events
of the helper's body, at the position of the call; events inside the helper's own loops get the
call as an extra, "virtual" loop, so that one iteration of the caller's loop does not pretend to
run them once.

Where an event depends on code nnlint cannot see -- a call that is handed the optimizer, an
inherited ``self.<...>step...()`` method -- it is recorded as OPAQUE and the rules that would
need to know stay silent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from nnlint import walker
from nnlint.flow import NO_GRAD_CONTEXTS, AssignEvent, FunctionFlow, flows_by_name, methods_of
from nnlint.names import dotted_name
from nnlint.patterns import module_class_call

if TYPE_CHECKING:
    from nnlint.context import FileContext

# Event kinds.
BACKWARD = "backward"  # gradients are computed (and added to .grad)
OPT_STEP = "optimizer-step"  # an optimizer applies .grad
CLEAR = "clear"  # gradients are cleared (zero_grad, p.grad = None)
OVERWRITE = "overwrite"  # p.grad = <computed value>: no accumulation either
SCHED_STEP = "scheduler-step"
CLIP = "clip"  # clip_grad_norm_ / clip_grad_value_
OPT_NEW = "optimizer-built"
MODEL_NEW = "model-built"  # a model is built or its weights reset / reloaded
OPAQUE = "opaque"  # code nnlint cannot see that may clear gradients or step

# What a variable holds.
OPTIMIZER, SCHEDULER, SCALER = "optimizer", "scheduler", "scaler"

Arm = tuple[cst.CSTNode, int]  # a compound statement and which of its bodies (0 = the main one)
LOOP_TYPES = (cst.For, cst.While)

CLIP_FUNCTIONS = frozenset(
    {
        "torch.nn.utils.clip_grad_norm_",
        "torch.nn.utils.clip_grad_value_",
        "torch.nn.utils.clip_grad_norm",
        "torch.nn.utils.clip_grad.clip_grad_norm_",
        "torch.nn.utils.clip_grad.clip_grad_value_",
        "torch.nn.utils.clip_grad.clip_grad_norm",
    }
)
CLIP_METHODS = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"})
_GRAD_ENABLING = frozenset({"torch.enable_grad", "torch.autograd.enable_grad"})
_SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled"})
# Receivers whose `.backward(loss)` back-propagates its argument (accelerate, DeepSpeed, Fabric).
_BACKWARD_OWNERS = ("accelerator", "engine", "fabric", "trainer", "deepspeed", "model")
# Calls that are handed an optimizer without clearing its gradients.
_INNOCENT_CALLS = frozenset(
    "unscale_ scale_loss prepare isinstance print len getattr hasattr setattr id type str repr format "
    "log info debug warning add_param_group state_dict load_state_dict requires_grad_ set_requires_grad".split()
)
_BUILTIN_CALLS = frozenset(
    "print len range enumerate zip isinstance getattr hasattr setattr type str repr int float bool "
    "list tuple dict set min max sum abs round sorted iter next any all super format".split()
)
# Builder names: a call like these in a loop builds (or reloads) the model each iteration.
_MODEL_BUILDER_PREFIXES = (
    "create_model", "build_model", "make_model", "get_model", "init_model", "load_model", "new_model", "instantiate"
)
_MODEL_BUILDER_SUFFIXES = ("from_pretrained", "from_config")
_MODEL_RESET_METHODS = frozenset({"load_state_dict", "reset_parameters"})
# What code does with optimizers, schedulers and scalers (anything else means plain data).
_HOLDER_API = frozenset(
    "step zero_grad param_groups state defaults state_dict load_state_dict add_param_group "
    "register_step_pre_hook register_step_post_hook get_last_lr get_lr last_epoch base_lrs optimizer "
    "scale unscale_ update get_scale is_enabled train eval step_update batch_step module "
    "backward pre_step post_step".split()
)
_TERMINATORS = {cst.Continue: "continue", cst.Break: "break", cst.Return: "return", cst.Raise: "raise"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def name_tokens(key: str) -> list[str]:
    """`self.optimizerD` -> ["optimizer", "d"]; the last part of a dotted name, split on _ and case.
    An item under a string key adds the key's words: `data_loader["train"]` -> data, loader, train."""
    base, bracket, index = key.partition("[")
    last = base.rpartition(".")[2]
    if bracket:
        last += "_" + re.sub(r"\W+", "_", index)
    return [t.lower() for part in last.split("_") for t in _CAMEL.split(part) if t]


def kind_by_name(key: str) -> str | None:
    """What a variable holds judging by its name alone -- only when the name is unambiguous."""
    tokens = name_tokens(key)
    sched = any(t.startswith("sched") for t in tokens) and "noise" not in tokens
    optim = any(t in ("opt", "optim", "optimizer", "optimiser", "optimizers", "optimisers") for t in tokens)
    scaler = "scaler" in tokens
    if sum((sched, optim, scaler)) != 1:
        return None
    return SCHEDULER if sched else OPTIMIZER if optim else SCALER


def kind_of_constructor(qualname: str) -> str | None:
    """What a call of ``qualname`` builds: OPTIMIZER, SCHEDULER, SCALER or None."""
    parts = qualname.split(".")
    last = parts[-1]
    lowered = last.lower()
    if "lr_scheduler" in parts or last.endswith(("LR", "Scheduler")) or "schedule" in lowered:
        return SCHEDULER
    if "scaler" in lowered:
        return SCALER
    if "swa_utils" in parts or last == "Optimizer":
        return None
    if last[:1].isupper() and any(p in ("optim", "optimizers", "optimizer", "optimization") for p in parts[:-1]):
        return OPTIMIZER
    if not last[:1].isupper() and ("optim" in lowered):  # create_optimizer, configure_optimizers
        return OPTIMIZER
    return None


def kind_of_annotation(qualname: str) -> str | None:
    """`optimizer: torch.optim.Optimizer`, `scheduler: LRScheduler`."""
    last = qualname.rpartition(".")[2]
    if "lr_scheduler" in qualname or last.endswith(("LRScheduler", "_LRScheduler", "Scheduler")):
        return SCHEDULER
    if last.endswith(("Optimizer", "Optimiser")):
        return OPTIMIZER
    return kind_of_constructor(qualname)


def is_optimizer_class(qualname: str | None) -> bool:
    """`torch.optim.Adam` and the optimizer classes of other packages (`timm.optim.AdamW`)."""
    if qualname is None:
        return False
    parts = qualname.split(".")
    return kind_of_constructor(qualname) == OPTIMIZER and parts[-1][:1].isupper() and (
        qualname.startswith("torch.optim.") or any(p in ("optim", "optimizers") for p in parts[:-1])
    )


def names_in(node: cst.CSTNode) -> set[str]:
    """Every dotted name (and each of its prefixes' roots) used in an expression, lambdas aside."""
    found: set[str] = set()

    def enter(sub: cst.CSTNode) -> bool:
        if isinstance(sub, cst.Lambda):
            return False
        if isinstance(sub, (cst.Name, cst.Attribute)):
            dotted = dotted_name(sub)
            if dotted is not None:
                found.add(dotted)
                found.add(dotted.partition(".")[0])
                return False
        return True

    walker.walk(node, enter)
    return found


def root(key: str) -> str:
    return key.partition(".")[0]


# -- layout: where every call and assignment sits ----------------------------------------------


@dataclass
class Item:
    node: cst.CSTNode  # a Call, or an Assign / AugAssign / AnnAssign / Del statement
    path: tuple[Arm, ...]
    no_grad: bool
    index: int = 0

    @property
    def loops(self) -> tuple[cst.CSTNode, ...]:
        return tuple(node for node, arm in self.path if arm == 0 and isinstance(node, LOOP_TYPES))


@dataclass
class Layout:
    items: list[Item] = field(default_factory=list)
    # Arms whose last statement leaves them: (kind, the innermost loop around the arm).
    terminating: dict[Arm, tuple[str, cst.CSTNode | None]] = field(default_factory=dict)
    local_functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    loop_targets: dict[cst.CSTNode, frozenset[str]] = field(default_factory=dict)
    assigned: list[tuple[Item, frozenset[str], cst.BaseExpression | None]] = field(default_factory=list)


def target_names(node: cst.BaseExpression) -> set[str]:
    if isinstance(node, (cst.Tuple, cst.List)):
        return {n for element in node.elements for n in target_names(element.value)}
    if isinstance(node, cst.StarredElement):
        return target_names(node.value)
    dotted = dotted_name(node)
    return {dotted} if dotted is not None else set()


class _LayoutBuilder:
    def __init__(self, ctx: FileContext, no_grad: bool) -> None:
        self.ctx = ctx
        self.layout = Layout()
        self.no_grad = no_grad
        self.loop: list[cst.CSTNode] = []

    def block(self, statements: Sequence[cst.CSTNode], path: tuple[Arm, ...], arm: Arm | None) -> None:
        for statement in statements:
            self.statement(statement, path)
        if arm is not None and statements:
            last = statements[-1]
            if isinstance(last, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) and last.body:
                kind = _TERMINATORS.get(type(last.body[-1]))
                if kind is not None:
                    self.layout.terminating[arm] = (kind, self.loop[-1] if self.loop else None)

    def suite(self, suite: cst.BaseSuite, path: tuple[Arm, ...], arm: Arm | None) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self.block(suite.body, path, arm)
        else:
            self.block([suite], path, arm)

    def expression(self, node: cst.CSTNode, path: tuple[Arm, ...]) -> None:
        items = self.layout.items

        def enter(sub: cst.CSTNode) -> bool:
            if isinstance(sub, cst.Lambda):
                return False
            if isinstance(sub, cst.Call):
                items.append(Item(sub, path, self.no_grad))
            return True

        walker.walk(node, enter)

    def small(self, node: cst.CSTNode, path: tuple[Arm, ...]) -> None:
        self.expression(node, path)
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.Del)):
            item = Item(node, path, self.no_grad)
            self.layout.items.append(item)
            if isinstance(node, cst.Assign):
                names = {n for t in node.targets for n in target_names(t.target)}
                self.layout.assigned.append((item, frozenset(names), node.value))
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
                self.layout.assigned.append((item, frozenset(target_names(node.target)), node.value))

    def _grad_mode(self, node: cst.With) -> bool | None:
        """True/False when the with-statement disables/enables gradients, None otherwise."""
        for with_item in node.items:
            call = with_item.item
            target = call.func if isinstance(call, cst.Call) else call
            name = self.ctx.qualified_name(target)
            if name in NO_GRAD_CONTEXTS:
                return True
            if name in _GRAD_ENABLING:
                return False
            if name in _SET_GRAD_ENABLED and isinstance(call, cst.Call) and call.args:
                value = call.args[0].value
                if isinstance(value, cst.Name) and value.value in ("True", "False"):
                    return value.value == "False"
        return None

    def statement(self, node: cst.CSTNode, path: tuple[Arm, ...]) -> None:
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            for small in node.body:
                self.small(small, path)
        elif isinstance(node, cst.If):
            self.expression(node.test, path)
            self.suite(node.body, (*path, (node, 0)), (node, 0))
            if isinstance(node.orelse, cst.If):
                self.statement(node.orelse, (*path, (node, 1)))
            elif isinstance(node.orelse, cst.Else):
                self.suite(node.orelse.body, (*path, (node, 1)), (node, 1))
        elif isinstance(node, (cst.For, cst.While)):
            if isinstance(node, cst.For):
                self.expression(node.iter, path)
                self.layout.loop_targets[node] = frozenset(target_names(node.target))
            inside = (*path, (node, 0))
            self.loop.append(node)
            if isinstance(node, cst.While):
                self.expression(node.test, inside)
            self.suite(node.body, inside, (node, 0))
            self.loop.pop()
            if node.orelse is not None:
                self.suite(node.orelse.body, (*path, (node, 1)), None)
        elif isinstance(node, cst.With):
            for with_item in node.items:
                self.expression(with_item.item, path)
            mode = self._grad_mode(node)
            saved = self.no_grad
            if mode is not None:
                self.no_grad = mode
            self.suite(node.body, path, None)
            self.no_grad = saved
        elif isinstance(node, (cst.Try, cst.TryStar)):
            self.suite(node.body, (*path, (node, 0)), None)
            for number, handler in enumerate(node.handlers, 1):
                self.suite(handler.body, (*path, (node, number)), (node, number))
            if node.orelse is not None:
                self.suite(node.orelse.body, (*path, (node, 0)), None)
            if node.finalbody is not None:
                self.suite(node.finalbody.body, path, None)
        elif isinstance(node, cst.Match):
            self.expression(node.subject, path)
            for number, case in enumerate(node.cases):
                self.suite(case.body, (*path, (node, number)), (node, number))
        elif isinstance(node, cst.FunctionDef):
            self.layout.local_functions[node.name.value] = node
        # Class definitions inside functions are left alone.


def build_layout(ctx: FileContext, flow: FunctionFlow) -> Layout:
    builder = _LayoutBuilder(ctx, flow.no_grad)
    if isinstance(flow.node, cst.Module):
        builder.block(flow.node.body, (), None)
    else:
        builder.suite(flow.node.body, (), None)
    for index, item in enumerate(builder.layout.items):
        item.index = index
    return builder.layout


# -- events --------------------------------------------------------------------------------------


@dataclass
class Event:
    kind: str
    node: cst.CSTNode  # where to report: the call or statement, or the helper call doing it
    path: tuple[Arm, ...]
    loops: tuple[cst.CSTNode, ...]  # real loops, then the helper calls whose loops run it
    no_grad: bool
    order: tuple[int, int]  # (item index, position inside a helper's events)
    key: str | None = None  # the optimizer (steps, clears) or scheduler it acts on
    text: str = ""  # how the call is written, for messages (`opt.step()`)
    via: str | None = None  # the helper that does it, when it is not done here
    origin: cst.CSTNode | None = None  # the helper call, for events inlined from a helper
    # BACKWARD: the tensors back-propagated, every name in the call, and whether it is a plain
    # `loss.backward()` (so `loss` is a scalar).
    tensors: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    scalar: bool = False
    has_args: bool = False  # OPT_STEP with a closure; SCHED_STEP with an epoch or metric
    clears_model: str | None = None  # CLEAR: the non-optimizer receiver (`model.zero_grad()`)
    fresh: bool = False  # OPT_NEW: built over tensors made in this call / iteration
    stateless: bool = False  # OPT_NEW: plain SGD without momentum keeps no state
    conditional: bool = False  # inlined from under an if inside the helper

    def in_region(self, region: cst.CSTNode | None) -> bool:
        return region is None or region in self.loops

    @property
    def described(self) -> str:
        return f"`{self.via}()` (which calls `{self.text}`)" if self.via else f"`{self.text}`"


def training_steps(ctx: FileContext) -> TrainingSteps:
    """The analysis of one file, computed once and shared by the rules of the family."""
    return ctx.shared(TrainingSteps)


# Method names that make a function part of training (the cheap pre-check looks for them).
_TRAINING_METHODS = frozenset({"backward", "manual_backward", "step", *CLIP_METHODS})


class TrainingSteps:
    """The training-step events of every function of a file (shared per file: ``ctx.shared``).

    Subclasses add event kinds of their own (nnlint/rules/distributed/_amp.py's AmpSteps adds the
    GradScaler's): they override ``_call_events`` (the events one call produces; call the parent
    for the rest) and build events with ``_event``; ``_callee`` resolves the helper a call enters.
    Those three are the extension points; the rest is internal."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.module_functions = flows_by_name(ctx)
        self.flow_of_node = {id(flow.node): flow for flow in ctx.flows}
        self._functions_named: dict[str, list[FunctionFlow]] = {}
        for flow in ctx.flows:
            if isinstance(flow.node, cst.FunctionDef) and flow.owner is None:
                self._functions_named.setdefault(flow.name, []).append(flow)
        self._relevant: dict[int, bool] = {}
        self._stepped: dict[int, frozenset[str]] = {}
        self._layouts: dict[int, Layout] = {}
        self._events: dict[int, list[Event]] = {}
        self._in_progress: set[int] = set()
        self._kinds: dict[tuple[int, str], str | None] = {}

    # -- per flow ------------------------------------------------------------------------

    def layout(self, flow: FunctionFlow) -> Layout:
        key = id(flow.node)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = build_layout(self.ctx, flow)
        return layout

    def relevant(self, flow: FunctionFlow) -> bool:
        """Cheap pre-check on call names, so that only functions that train (or call a same-file
        helper that does) get analysed -- most functions of a model library never do."""
        key = id(flow.node)
        verdict = self._relevant.get(key)
        if verdict is not None:
            return verdict
        self._relevant[key] = False  # recursion
        verdict = self._trains_directly(flow) or any(
            self.relevant(callee) for callee in self._possible_callees(flow) if callee is not flow
        )
        self._relevant[key] = verdict
        return verdict

    @staticmethod
    def _trains_directly(flow: FunctionFlow) -> bool:
        for event in flow.calls():
            method = event.method
            if method is not None and (method in _TRAINING_METHODS or method.startswith("zero_grad")):
                return True
            name = (event.func or "").lower()
            if "optim" in name or "clip_grad" in name:
                return True
        return any(isinstance(e, AssignEvent) and any(t.endswith(".grad") for t in e.targets) for e in flow.events)

    def _possible_callees(self, flow: FunctionFlow) -> Iterable[FunctionFlow]:
        """Same-file functions a call in ``flow`` may reach, judged by name only."""
        methods = methods_of(self.ctx, flow.owner) if flow.owner is not None else {}
        for event in flow.calls():
            if event.func is not None and "." not in event.func:
                yield from self._functions_named.get(event.func, ())
            elif event.receiver == "self" and event.method in methods:
                yield methods[event.method]

    def stepped(self, flow: FunctionFlow) -> frozenset[str]:
        """Variables this flow steps or clears like an optimizer (`opt.step()`, `scaler.step(opt)`)."""
        key = id(flow.node)
        found = self._stepped.get(key)
        if found is None:
            names = set()
            for event in flow.calls():
                if event.method == "step" or (event.method or "").startswith("zero_grad"):
                    if event.receiver is not None:
                        names.add(event.receiver)
                    if event.node.args:
                        arg = dotted_name(event.node.args[0].value)
                        if arg is not None:
                            names.add(arg)
            found = self._stepped[key] = frozenset(names)
        return found

    def events(self, flow: FunctionFlow) -> list[Event]:
        key = id(flow.node)
        cached = self._events.get(key)
        if cached is not None:
            return cached
        if key in self._in_progress:  # recursion: the helper's effects are unknown
            return []
        if not self.relevant(flow):
            self._events[key] = []
            return []
        self._in_progress.add(key)
        events: list[Event] = []
        layout = self.layout(flow)
        for item in layout.items:
            events.extend(self._item_events(flow, layout, item))
        self._in_progress.discard(key)
        self._events[key] = events
        return events

    # -- what a variable holds -------------------------------------------------------------

    def kind_of(self, flow: FunctionFlow, key: str | None) -> str | None:
        """OPTIMIZER / SCHEDULER / SCALER for a variable: by how it was built, else by its name."""
        if key is None:
            return None
        memo = (id(flow.node), key)
        if memo in self._kinds:
            return self._kinds[memo]
        self._kinds[memo] = None  # guards `a = b; b = a`
        unknown_builders: list[str] = []
        kind = self._kind_by_construction(flow, key, set(), unknown_builders)
        if kind is None:
            kind = kind_by_name(key)
            # A scheduler built by a class nnlint does not know may follow other rules
            # (`CyclicLRWithRestarts` wants `step()` at the start of each epoch).
            if kind == SCHEDULER and unknown_builders:
                kind = None
            # `opt.device`, `opt.lr`: command-line options, not an optimizer.
            if kind == OPTIMIZER and "opt" in name_tokens(key) and self._used_as_data(flow, key, kind):
                kind = None
        self._kinds[memo] = kind
        return kind

    def _used_as_data(self, flow: FunctionFlow, key: str, kind: str) -> bool:
        """Whether the flow reads an attribute of ``key`` that an optimizer / scheduler / scaler
        does not have."""
        found = False

        def enter(node: cst.CSTNode) -> bool:
            nonlocal found
            if found:
                return False
            if isinstance(node, cst.Attribute) and node.attr.value not in _HOLDER_API:
                found = dotted_name(node.value) == key
            return True

        walker.walk(flow.node, enter)
        return found

    def _kind_by_construction(
        self, flow: FunctionFlow, key: str, seen: set[str], unknown_builders: list[str] | None = None
    ) -> str | None:
        if key in seen:
            return None
        seen.add(key)
        flows: Iterable[FunctionFlow] = [flow]
        if key.startswith("self.") and flow.owner is not None:
            flows = methods_of(self.ctx, flow.owner).values()
        elif isinstance(flow.node, cst.FunctionDef):
            annotation = self._annotation(flow.node, key)
            if annotation is not None:
                return kind_of_annotation(annotation)
            flows = [flow, self.ctx.flows[0]]
        for candidate in flows:
            for names, value in self._assignments(flow, candidate):
                if key not in names or value is None or len(names) != 1:
                    continue
                kind = self._kind_of_value(candidate, value, seen)
                if kind is not None:
                    return kind
                if unknown_builders is not None and isinstance(value, cst.Call):
                    unknown_builders.append(self.ctx.module.code_for_node(value.func))
        return None

    def _assignments(
        self, analysed: FunctionFlow, candidate: FunctionFlow
    ) -> Iterable[tuple[frozenset[str], cst.BaseExpression | None]]:
        """Assignments of ``candidate``: from its layout when it is the flow being analysed (tuple
        targets included), else from the flow's own events (cheap: no layout for every method
        of a large class)."""
        if candidate is analysed:
            for _, names, value in self.layout(candidate).assigned:
                yield names, value
        else:
            for event in candidate.events:
                if isinstance(event, AssignEvent):
                    yield frozenset(event.targets), event.value

    def _annotation(self, node: cst.FunctionDef, key: str) -> str | None:
        for param in (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params):
            if param.name.value == key and param.annotation is not None:
                return self.ctx.qualified_name(param.annotation.annotation)
        return None

    def _kind_of_value(self, flow: FunctionFlow, value: cst.BaseExpression, seen: set[str]) -> str | None:
        alias = dotted_name(value)
        if alias is not None:
            return self._kind_by_construction(flow, alias, seen) or kind_by_name(alias)
        if not isinstance(value, cst.Call):
            return None
        name = self.ctx.qualified_name(value.func) or dotted_name(value.func)
        if name is not None:
            kind = kind_of_constructor(name)
            if kind is not None:
                return kind
        # `optimizer = accelerator.prepare(optimizer)` keeps what it wraps.
        if len(value.args) == 1:
            inner = dotted_name(value.args[0].value)
            if inner is not None:
                return self._kind_by_construction(flow, inner, seen) or kind_by_name(inner)
        return None

    def scheduler_optimizer(self, flow: FunctionFlow, key: str) -> str | None:
        """The optimizer a scheduler was built for (`StepLR(opt, ...)`), when visible."""
        flows: Iterable[FunctionFlow] = [flow]
        if key.startswith("self.") and flow.owner is not None:
            flows = methods_of(self.ctx, flow.owner).values()
        for candidate in flows:
            for names, value in self._assignments(flow, candidate):
                if key in names and isinstance(value, cst.Call) and value.args:
                    first = dotted_name(value.args[0].value)
                    if first is not None and self.kind_of(candidate, first) == OPTIMIZER:
                        return first
        return None

    # -- turning calls into events ---------------------------------------------------------

    def _event(self, kind: str, item: Item, text: str, **extra: object) -> Event:
        event = Event(kind, item.node, item.path, item.loops, item.no_grad, (item.index, 0), text=text)
        for name, value in extra.items():
            setattr(event, name, value)
        return event

    def _item_events(self, flow: FunctionFlow, layout: Layout, item: Item) -> list[Event]:
        node = item.node
        if isinstance(node, cst.Call):
            return self._call_events(flow, layout, item, node)
        return self._statement_events(item, node)

    def _statement_events(self, item: Item, node: cst.CSTNode) -> list[Event]:
        """`p.grad = None`, `del p.grad`, `p.grad *= 0` clear; `p.grad = g` overwrites."""
        if isinstance(node, cst.Del):
            targets = [node.target]
        elif isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
            targets = [node.target]
        else:
            return []
        grads = [t for t in targets if isinstance(t, cst.Attribute) and t.attr.value == "grad"]
        if not grads:
            return []
        text = f"{self.ctx.module.code_for_node(grads[0])} = ..."
        if isinstance(node, cst.Del):
            return [self._event(CLEAR, item, f"del {self.ctx.module.code_for_node(grads[0])}")]
        value = node.value
        if isinstance(node, cst.AugAssign):
            zero = isinstance(node.operator, cst.MultiplyAssign) and _is_zero(value)
            return [self._event(CLEAR, item, text)] if zero else []
        if isinstance(value, cst.Name) and value.value == "None" or _zeros_call(self.ctx, value):
            return [self._event(CLEAR, item, text)]
        return [self._event(OVERWRITE, item, text)]

    def _call_events(self, flow: FunctionFlow, layout: Layout, item: Item, call: cst.Call) -> list[Event]:
        ctx = self.ctx
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        receiver_node = func.value if isinstance(func, cst.Attribute) else None
        receiver = dotted_name(receiver_node) if receiver_node is not None else None
        qualname = ctx.qualified_name(func)
        dotted = dotted_name(func)
        positional = [arg for arg in call.args if arg.keyword is None and not arg.star]

        # Back-propagation.
        if method in ("backward", "manual_backward") or qualname == "torch.autograd.backward":
            return [self._backward_event(item, call, method, receiver, qualname, positional)]

        # Clipping.
        if qualname in CLIP_FUNCTIONS or method in CLIP_METHODS:
            return [self._event(CLIP, item, f"{dotted or method}(...)")]

        # Gradient clearing.
        if method is not None and method.startswith("zero_grad"):
            key = receiver if self.kind_of(flow, receiver) == OPTIMIZER else None
            model = receiver if key is None else None
            return [self._event(CLEAR, item, f"{receiver or '...'}.{method}()", key=key, clears_model=model)]
        if method in ("zero_", "fill_", "mul_") and receiver_node is not None and _is_grad(receiver_node):
            if method == "zero_" or (positional and _is_zero(positional[0].value)):
                return [self._event(CLEAR, item, f"{ctx.module.code_for_node(receiver_node)}.{method}(...)")]
            return []

        # Optimizer and scheduler steps.
        if method == "step" and receiver is not None:
            kind = self.kind_of(flow, receiver)
            if kind == OPTIMIZER:
                return [self._event(OPT_STEP, item, f"{receiver}.step()", key=receiver, has_args=bool(call.args))]
            if kind == SCALER and positional:
                optimizer = dotted_name(positional[0].value)
                return [self._event(OPT_STEP, item, f"{receiver}.step({optimizer or '...'})", key=optimizer)]
            if kind == SCHEDULER:
                return [self._event(SCHED_STEP, item, f"{receiver}.step()", key=receiver, has_args=bool(call.args))]

        # Construction of optimizers and models.
        if is_optimizer_class(qualname):
            return [
                self._event(
                    OPT_NEW,
                    item,
                    f"{dotted or qualname}(...)",
                    fresh=self._fresh_arguments(layout, item, call),
                    stateless=_plain_sgd(qualname, call),
                )
            ]
        if self._builds_model(call, method, dotted):
            return [self._event(MODEL_NEW, item, f"{dotted or method}(...)")]

        # Same-file helpers.
        callee = self._callee(flow, layout, call, method, receiver)
        if callee is not None:
            return self._inline(flow, item, call, callee)

        # Code nnlint cannot see.
        if self._may_touch_gradients(flow, call, method, receiver, dotted, qualname):
            return [self._event(OPAQUE, item, f"{dotted or '...'}(...)")]
        return []

    def _backward_event(
        self,
        item: Item,
        call: cst.Call,
        method: str | None,
        receiver: str | None,
        qualname: str | None,
        positional: list[cst.Arg],
    ) -> Event:
        receiver_node = call.func.value if isinstance(call.func, cst.Attribute) else None
        args_given = bool(positional) or any(
            arg.keyword is not None and arg.keyword.value in ("gradient", "grad_tensors") for arg in call.args
        )
        owner_style = method == "manual_backward" or qualname == "torch.autograd.backward" or (
            bool(positional)
            and receiver is not None
            and (receiver == "self" or any(word in receiver.lower() for word in _BACKWARD_OWNERS))
        )
        if owner_style and positional:
            source: cst.CSTNode = positional[0].value
            scalar = len(positional) == 1 and not any(
                arg.keyword is not None and arg.keyword.value == "grad_tensors" for arg in call.args
            )
        else:
            source = receiver_node if receiver_node is not None else call
            scalar = not args_given
        tensors = frozenset(_backpropagated(source))
        names = frozenset(names_in(call))
        text = f"{self.ctx.module.code_for_node(call.func)}({'...' if call.args else ''})"
        return self._event(BACKWARD, item, text, tensors=tensors, names=names, scalar=scalar)

    def _fresh_arguments(self, layout: Layout, item: Item, call: cst.Call) -> bool:
        """Whether the optimizer is built over tensors made in the same iteration (or call):
        its parameters argument names the loop's own target (`for model in models`), or
        something assigned in the loop from other than `.parameters()` (a fresh leaf tensor)."""
        params = [a for a in call.args if a.keyword is None and not a.star][:1] or [
            a for a in call.args if a.keyword is not None and a.keyword.value == "params"
        ]
        # `self.model.parameters()` uses `self.model` (rebuilt by `self.model = Net()`) and `self`.
        used = {prefix for arg in params or call.args for n in names_in(arg.value) for prefix in _prefixes(n)}
        loops = item.loops
        for loop in loops:
            if used & layout.loop_targets.get(loop, frozenset()):
                return True
        for other, names, value in layout.assigned:
            if not (names & used) or value is None:
                continue
            if loops and loops[-1] not in other.loops:
                continue
            text = self.ctx.module.code_for_node(value)
            if "parameters" not in text and "param_groups" not in text:
                return True
        return False

    def _builds_model(self, call: cst.Call, method: str | None, dotted: str | None) -> bool:
        if method in _MODEL_RESET_METHODS:
            return True
        built = module_class_call(self.ctx, call)
        if built is not None:
            return not built.endswith("Loss")  # a criterion is not the model
        qualname = self.ctx.qualified_name(call.func) or ""
        last = (dotted or qualname).rpartition(".")[2].lower()
        return last.startswith(_MODEL_BUILDER_PREFIXES) or last.endswith(_MODEL_BUILDER_SUFFIXES)

    def _may_touch_gradients(
        self,
        flow: FunctionFlow,
        call: cst.Call,
        method: str | None,
        receiver: str | None,
        dotted: str | None,
        qualname: str | None,
    ) -> bool:
        name = (method or dotted or "").lower()
        if qualname is not None and qualname.startswith("torch."):
            return False
        if name in _INNOCENT_CALLS or name in _BUILTIN_CALLS:
            return False
        # `zero_gradients(x)`, `meta_model.point_grad_to(model)`: may clear or set `.grad`.
        if "grad" in name:
            return True
        if "optimizer_step" in name or "optimizer_zero" in name:
            return True
        # An inherited or external method of a trainer class that steps or touches gradients.
        if receiver == "self" or (isinstance(call.func, cst.Attribute) and _is_super_call(call.func.value)):
            if any(word in name for word in ("step", "grad", "optim", "backward")):
                return True
        # Code that is handed the optimizer may clear its gradients.
        for arg in call.args:
            key = dotted_name(arg.value)
            if key is None or (key not in self.stepped(flow) and kind_by_name(key) != OPTIMIZER):
                continue
            if self.kind_of(flow, key) == OPTIMIZER:
                return True
        return False

    # -- helpers ---------------------------------------------------------------------------

    def _callee(
        self, flow: FunctionFlow, layout: Layout, call: cst.Call, method: str | None, receiver: str | None
    ) -> FunctionFlow | None:
        func = call.func
        if isinstance(func, cst.Name):
            local = layout.local_functions.get(func.value)
            if local is not None:
                return self.flow_of_node.get(id(local))
            return self.module_functions.get(func.value)
        if receiver == "self" and method is not None and flow.owner is not None:
            return methods_of(self.ctx, flow.owner).get(method)
        return None

    def _bindings(self, callee: FunctionFlow, call: cst.Call) -> dict[str, str]:
        """The callee's parameter names -> the caller's variables."""
        mapping: dict[str, str] = {}
        params = list(callee.params)
        if callee.owner is not None and params and params[0] == "self":
            params = params[1:]
            mapping["self"] = "self"
        positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
        for param, arg in zip(params, positional):
            key = dotted_name(arg.value)
            if key is not None:
                mapping[param] = key
        for arg in call.args:
            if arg.keyword is not None:
                key = dotted_name(arg.value)
                if key is not None:
                    mapping[arg.keyword.value] = key
        return mapping

    def _translate(self, key: str | None, mapping: dict[str, str], callee: FunctionFlow) -> str | None:
        """A name in the callee -> the caller's name for it; None for the callee's own locals."""
        if key is None:
            return None
        head, dot, rest = key.partition(".")
        if head in mapping:
            return mapping[head] + dot + rest
        if head == "self":
            return key if callee.owner is not None else None
        if head in callee.params or any(head in names for _, names, _ in self.layout(callee).assigned):
            return None
        return key  # a global, or a variable of the enclosing function, keeps its name

    def _inline(self, flow: FunctionFlow, item: Item, call: cst.Call, callee: FunctionFlow) -> list[Event]:
        inner = self.events(callee)
        if not inner:
            # A helper that does not train may still build the model (`model = get_net()`).
            if any(self._builds_model(e.node, e.method, e.func) for e in callee.calls()):
                return [self._event(MODEL_NEW, item, f"{callee.name}(...)")]
            return []
        mapping = self._bindings(callee, call)
        name = callee.name
        out: list[Event] = []
        for position, event in enumerate(inner, 1):
            # Events inside the helper's own loops run in a loop of their own (the call).
            path, loops = item.path, item.loops
            if event.loops:
                path, loops = (*path, (item.node, 0)), (*loops, item.node)
            out.append(
                Event(
                    event.kind,
                    item.node,
                    path,
                    loops,
                    item.no_grad or event.no_grad,
                    (item.index, position),
                    key=self._translate(event.key, mapping, callee),
                    text=event.text if event.via is None else f"{event.via}()",
                    via=name,
                    origin=item.node,
                    tensors=frozenset(t for t in (self._translate(t, mapping, callee) for t in event.tensors) if t),
                    names=frozenset(t for t in (self._translate(t, mapping, callee) for t in event.names) if t),
                    scalar=event.scalar,
                    has_args=event.has_args,
                    clears_model=self._translate(event.clears_model, mapping, callee),
                    fresh=event.fresh,
                    stateless=event.stateless,
                    conditional=event.conditional or any(isinstance(n, (cst.If, cst.Match)) for n, _ in event.path),
                )
            )
        return out

    # -- order within one iteration --------------------------------------------------------

    def reaches(self, flow: FunctionFlow, first: Event, second: Event, region: cst.CSTNode | None) -> bool:
        """Whether control can run ``first`` and then ``second`` within one iteration of
        ``region`` (the function body when None): ``first`` comes first in the source, they are
        not in different arms of one if/try, and no arm around ``first`` alone ends in
        return/raise (or in break/continue of ``region``)."""
        if first.order >= second.order:
            return False
        if exclusive(first.path, second.path):
            return False
        shared = set(second.path)
        terminating = self.layout(flow).terminating
        for arm in first.path:
            if arm in shared:
                continue
            exit_ = terminating.get(arm)
            if exit_ is None:
                continue
            kind, loop = exit_
            if kind in ("return", "raise") or loop is region:
                return False
        return True


def exclusive(first: tuple[Arm, ...], second: tuple[Arm, ...]) -> bool:
    """Whether two places lie in different arms of the same if/try/match."""
    for (node_a, arm_a), (node_b, arm_b) in zip(first, second):
        if node_a is not node_b:
            return False
        if arm_a != arm_b:
            return True
    return False


def innermost_loop(event: Event) -> cst.CSTNode | None:
    return event.loops[-1] if event.loops else None


def common_loop(first: Event, second: Event) -> cst.CSTNode | None:
    shared = None
    for a, b in zip(first.loops, second.loops):
        if a is not b:
            break
        shared = a
    return shared


def loop_label(module: cst.Module, loop: cst.CSTNode) -> str:
    """`for epoch in range(10)` -> "`for epoch` loop"; a helper call's loop -> "`helper()`"."""
    if isinstance(loop, cst.For):
        return f"`for {module.code_for_node(loop.target)}` loop"
    if isinstance(loop, cst.While):
        return "`while` loop"
    return "loop"


def _backpropagated(node: cst.CSTNode) -> set[str]:
    """The tensors a `.backward()` receiver stands for: `loss`, `(loss / k)`, `scaler.scale(loss)`,
    `loss.mean()`."""
    dotted = dotted_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
    if dotted is not None:
        return {dotted}
    if isinstance(node, cst.BinaryOperation):
        return _backpropagated(node.left) | _backpropagated(node.right)
    if isinstance(node, cst.UnaryOperation):
        return _backpropagated(node.expression)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        if node.func.attr.value == "scale" and node.args:
            return _backpropagated(node.args[0].value)
        if node.func.attr.value in ("mean", "sum", "float", "double", "squeeze", "to"):
            return _backpropagated(node.func.value)
    return set()


def _is_grad(node: cst.CSTNode) -> bool:
    """`p.grad` or `p.grad.data`."""
    if isinstance(node, cst.Attribute) and node.attr.value == "data":
        node = node.value
    return isinstance(node, cst.Attribute) and node.attr.value == "grad"


def _is_zero(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, (cst.Integer, cst.Float)) and float(node.value.replace("_", "")) == 0.0


def _zeros_call(ctx: FileContext, node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Call) and ctx.qualified_name(node.func) in ("torch.zeros_like", "torch.zeros")


def _prefixes(dotted: str) -> list[str]:
    """`a.b.c` -> ["a", "a.b", "a.b.c"]."""
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _plain_sgd(qualname: str | None, call: cst.Call) -> bool:
    """`SGD(params, lr)` without momentum: no state to lose."""
    if qualname is None or not qualname.endswith(".SGD"):
        return False
    positional = [arg for arg in call.args if arg.keyword is None]
    if len(positional) > 2 or any(arg.star for arg in call.args):
        return False
    momentum = next((arg for arg in call.args if arg.keyword is not None and arg.keyword.value == "momentum"), None)
    return momentum is None or _is_zero(momentum.value)


def _is_super_call(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "super"
