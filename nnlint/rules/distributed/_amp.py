"""The training steps of the loop rules, plus what a GradScaler does: `scaler.unscale_(opt)`,
`scaler.step(opt)`, `scaler.update()` -- shared by NN701 and NN702 -- and where autocast is on
(NN703).

``AmpSteps`` is the loop rules' ``TrainingSteps`` (same layout, same same-file helper inlining,
same "can this reach that within one iteration") with three more event kinds for the calls of a
known GradScaler (see ``_values.Values.scaler_state``), and one for a scaler handed to code nnlint
cannot see (which may unscale or update it). A scaler's step is recorded as SCALER_STEP, not as
the loop rules' optimizer step, so "stepped through the scaler" and "stepped directly" differ.
The scaler's name travels in ``Event.names`` (translated through helpers like every name there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint import walker

from nnlint.flow import FunctionFlow
from nnlint.names import dotted_name
from nnlint.rules.distributed._values import AUTOCAST, AUTOCAST_CONTEXTS, ON, Values, values
from nnlint.rules.loop._steps import BACKWARD, Event, Item, Layout, TrainingSteps, name_tokens

if TYPE_CHECKING:
    from nnlint.context import FileContext

UNSCALE = "scaler-unscale"
SCALER_STEP = "scaler-step"
SCALER_UPDATE = "scaler-update"
SCALER_HANDED = "scaler-handed"  # given to code nnlint cannot see
_SCALER_METHODS = {"unscale_": UNSCALE, "step": SCALER_STEP, "update": SCALER_UPDATE}
# Calls that read a scaler without changing it.
_NEUTRAL = frozenset("print len str repr isinstance type id hasattr getattr".split())


class AmpSteps(TrainingSteps):
    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.values: Values = values(ctx)
        self._autocast: dict[int, frozenset[int]] = {}

    def _call_events(self, flow: FunctionFlow, layout: Layout, item: Item, call: cst.Call) -> list[Event]:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in _SCALER_METHODS:
            receiver = dotted_name(func.value)
            if receiver is not None and self.values.scaler_state(flow, receiver) == ON:
                kind = _SCALER_METHODS[func.attr.value]
                positional = [a for a in call.args if a.keyword is None and not a.star]
                optimizer = dotted_name(positional[0].value) if positional else None
                text = f"{receiver}.{func.attr.value}({optimizer or ('...' if call.args else '')})"
                return [self._event(kind, item, text, key=optimizer, names=frozenset({receiver}))]
        events = super()._call_events(flow, layout, item, call)
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        if (dotted_name(func) or "") in _NEUTRAL or self._callee(flow, layout, call, method, None) is not None:
            return events
        for arg in call.args:
            key = dotted_name(arg.value)
            if key is not None and self.values.scaler_state(flow, key) == ON:
                events.append(self._event(SCALER_HANDED, item, f"{dotted_name(func) or '...'}(...)", names=frozenset({key})))
        return events

    def backward_scaler(self, flow: FunctionFlow, event: Event) -> str | None:
        """The scaler of a `scaler.scale(loss).backward()` (scaling on), else None."""
        if event.kind != BACKWARD:
            return None
        for name in sorted(event.names):
            if name.endswith(".scale"):
                scaler = name[: -len(".scale")]
                if self.values.scaler_state(flow, scaler) == ON:
                    return scaler
        # `scaled = scaler.scale(loss)` ... `scaled.backward()` (also `loss = scaler.scale(loss)`).
        for name in sorted(event.tensors):
            for _, value in self.values.assigned_values(flow, name):
                scaler = _scale_receiver(value)
                if scaler is not None and self.values.scaler_state(flow, scaler) == ON:
                    return scaler
        return None

    # -- autocast ----------------------------------------------------------------------------

    def autocast_nodes(self, flow: FunctionFlow) -> frozenset[int]:
        """id() of every node of ``flow`` that runs with autocast on: inside a `with` whose
        context is an autocast (or a name holding one) not switched off by a literal
        `enabled=False`, or anywhere in a function decorated with one. Nested functions and
        classes are theirs."""
        key = id(flow.node)
        found = self._autocast.get(key)
        if found is None:
            collector = _AutocastRegions(self, flow)
            if isinstance(flow.node, cst.FunctionDef) and any(
                collector.switches(d.decorator) is True for d in flow.node.decorators
            ):
                collector.depth = 1
            walker.walk(flow.node, collector.enter, collector.leave, _WITH)
            found = self._autocast[key] = frozenset(collector.inside)
        return found


_WITH = frozenset({cst.With})


class _AutocastRegions:
    """Walked over one flow's nodes (nnlint's walker: LibCST's generic visitor cost a third of
    a second on a long training script)."""

    def __init__(self, steps: AmpSteps, flow: FunctionFlow) -> None:
        self.steps = steps
        self.flow = flow
        self.depth = 0  # > 0: autocast on
        self.stack: list[int] = []  # the depth each `with` restores
        self.inside: set[int] = set()

    def switches(self, node: cst.BaseExpression) -> bool | None:
        """True: turns autocast on; False: turns it off; None: no autocast."""
        values = self.steps.values
        held = [h.call for h in values.held_by_expression(self.flow, node) if h.kind == AUTOCAST]
        written = node if isinstance(node, cst.Call) else None
        if not held and isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            # `autocast = torch.cuda.amp.autocast` ... `with autocast():`, or a factory bound
            # with its arguments: `ctx = partial(torch.autocast, device_type="cuda")`.
            for _, value in values.assigned_values(self.flow, node.func.value):
                if value is not None and self.steps.ctx.qualified_name(value) in AUTOCAST_CONTEXTS:
                    held = [node]
                elif isinstance(value, cst.Call) and self._partial_autocast(value):
                    held = [node, value]
        if not held and _framework_autocast(node):
            held = [node]  # type: ignore[list-item]
        if not held:
            return None
        # `enabled=False` written at the `with`, or in the call a name was bound to.
        return not any(_switched_off(call) for call in (written, *held) if call is not None)

    def _partial_autocast(self, call: cst.Call) -> bool:
        """`functools.partial(torch.autocast, ...)`."""
        if self.steps.ctx.qualified_name(call.func) != "functools.partial" or not call.args:
            return False
        return self.steps.ctx.qualified_name(call.args[0].value) in AUTOCAST_CONTEXTS

    def enter(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not self.flow.node:
            return False
        if self.depth > 0:
            self.inside.add(id(node))
        if isinstance(node, cst.With):
            self._enter_with(node)
        return True

    def leave(self, node: cst.CSTNode) -> None:
        self.depth = self.stack.pop()  # only With nodes are left (see _WITH)

    def _enter_with(self, node: cst.With) -> None:
        self.stack.append(self.depth)
        for item in node.items:
            verdict = self.switches(item.item)
            if verdict is True:
                self.depth += 1
            elif verdict is False:
                self.depth = 0


def scaler_absent(event: Event, scaler: str) -> bool:
    """Whether ``event`` sits in the arm of an `if` that runs when ``scaler`` is None or falsy
    (`if scaler is not None: ... else: <here>`, `if scaler is None: <here>`, `if not scaler:`)."""
    for node, arm in event.path:
        if not isinstance(node, cst.If):
            continue
        test, present_arm = node.test, 0
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test, present_arm = test.expression, 1
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            target = test.comparisons[0]
            if isinstance(target.comparator, cst.Name) and target.comparator.value == "None":
                if isinstance(target.operator, cst.Is):
                    present_arm = 1 - present_arm
                elif not isinstance(target.operator, cst.IsNot):
                    continue
                test = test.left
        if dotted_name(test) == scaler and arm != present_arm:
            return True
    return False


def _scale_receiver(value: cst.BaseExpression | None) -> str | None:
    """`scaler` for a value written `scaler.scale(...)`."""
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "scale":
        return dotted_name(value.func.value)
    return None


def opposite_conditions(first: Event, second: Event, module: cst.Module) -> bool:
    """Whether the two events sit in opposite arms of two `if` statements that test the same
    condition (`if use_amp: scaler.scale(loss).backward() else: loss.backward()` ... `if use_amp:
    scaler.step(opt) else: opt.step()`): no iteration runs both. ``exclusive`` of the loop rules
    only knows arms of one statement."""
    tested = {}
    for node, arm in first.path:
        if isinstance(node, cst.If) and arm in (0, 1):
            text, positive = tested_condition(node.test, module)
            tested[text] = positive == (arm == 0)
    for node, arm in second.path:
        if isinstance(node, cst.If) and arm in (0, 1) and not any(node is n for n, _ in first.path):
            text, positive = tested_condition(node.test, module)
            if text in tested and tested[text] != (positive == (arm == 0)):
                return True
    return False


def tested_condition(test: cst.BaseExpression, module: cst.Module) -> tuple[str, bool]:
    """(the tested expression, True when the test holds if it is truthy): `x`, `not x`,
    `x is not None`, `x is None` -> ("x", True/False/True/False)."""
    positive = True
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, positive = test.expression, not positive
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        if isinstance(target.comparator, cst.Name) and target.comparator.value == "None":
            if isinstance(target.operator, cst.Is):
                return module.code_for_node(test.left), not positive
            if isinstance(target.operator, cst.IsNot):
                return module.code_for_node(test.left), positive
    return module.code_for_node(test), positive


def _framework_autocast(node: cst.BaseExpression) -> bool:
    """`accelerator.autocast()` (accelerate), `fabric.autocast()` (Lightning Fabric)."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "autocast"):
        return False
    owner = name_tokens(dotted_name(node.func.value) or "")
    return bool(owner) and owner[-1] in ("accelerator", "fabric")


def _switched_off(call: cst.Call) -> bool:
    enabled = next((a for a in call.args if a.keyword is not None and a.keyword.value == "enabled"), None)
    return enabled is not None and isinstance(enabled.value, cst.Name) and enabled.value.value == "False"


def amp_steps(ctx: FileContext) -> AmpSteps:
    return ctx.shared(AmpSteps)
