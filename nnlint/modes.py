"""Train/eval mode of models through a function, in source order.

Shared by the rules about mode (NN201, NN203): which variables hold a model, and what each call
does to its mode -- `model.eval()`, `model.train()`, a same-file helper that switches it, a
training step. Where a model goes somewhere nnlint cannot see, its mode becomes unknown and the
rules stay silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.flow import AssignEvent, CallEvent, FunctionFlow, flows_by_name, methods_of
from nnlint.names import dotted_name
from nnlint.patterns import module_class_call

if TYPE_CHECKING:
    from nnlint.context import FileContext

TRAIN, EXPLICIT_TRAIN, EVAL, UNKNOWN = "train", "explicit-train", "eval", "unknown"
# Calls that take a model as an argument without changing its mode.
MODE_NEUTRAL_CALLS = frozenset(
    "print len str repr isinstance type id hasattr getattr setattr vars dir sum list "
    "torch.save count_parameters".split()
)
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


class ModeModel:
    """Per-file mode analysis; summaries of helpers are computed on demand and memoised."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.functions = flows_by_name(ctx)
        self._summaries: dict[int, HelperSummary] = {}
        self._in_progress: set[int] = set()

    # -- who is a model --------------------------------------------------------------------

    def constructed_models(self, flow: FunctionFlow) -> set[str]:
        """Variables assigned a Module constructor (`model = Net()`) in this flow."""
        found: set[str] = set()
        for event in flow.events:
            if isinstance(event, AssignEvent) and event.value is not None:
                if module_class_call(self.ctx, event.value) is not None:
                    found.update(event.targets)
        return found

    def attribute_models(self, flow: FunctionFlow) -> set[str]:
        """`self.model`-style attributes that the method's (non-Module) class assigns a Module."""
        owner = flow.owner
        if owner is None or self.ctx.is_module_class(owner):
            return set()
        found: set[str] = set()
        for method in methods_of(self.ctx, owner).values():
            found |= {key for key in self.constructed_models(method) if key.startswith("self.")}
        return found

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
        mapping: dict[str, str] = {}
        params = list(callee.params)
        if callee.owner is not None and params and params[0] == "self":
            params = params[1:]
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

    def summary(self, flow: FunctionFlow) -> HelperSummary:
        key = id(flow.node)
        if key in self._summaries:
            return self._summaries[key]
        if key in self._in_progress:  # recursion: assume nothing
            return HelperSummary()
        self._in_progress.add(key)
        summary = HelperSummary()
        watched = set(flow.params) | {k for k in self.attribute_models(flow)}
        states: dict[str, str] = {}
        for event in flow.events:
            if not isinstance(event, CallEvent):
                continue
            if is_training_step(event):
                summary.trains = True
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
        return mapping

    # -- inference context -----------------------------------------------------------------

    def is_inference(self, flow: FunctionFlow, event: CallEvent) -> bool:
        return event.no_grad or is_inference_name(flow.name)


_INFERENCE_NAMES = frozenset(
    {"evaluate", "eval", "validate", "validation", "val", "predict", "inference", "infer", "test", "run_inference"}
)
_INFERENCE_PREFIXES = ("evaluate_", "eval_", "validate_", "predict_", "infer_", "inference_")


def is_inference_name(name: str) -> bool:
    lowered = name.lower().lstrip("_")
    return lowered in _INFERENCE_NAMES or lowered.startswith(_INFERENCE_PREFIXES)
