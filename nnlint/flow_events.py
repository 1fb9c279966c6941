"""The ordered events of one function (calls, assignments), as the flow collector records them
and the order-sensitive rules read them from ``ctx.flows``. Plain data: the context holds it
and the collector in flow.py builds it, so neither of those modules needs the other's types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import libcst as cst

    from nnlint.semantic import ClassInfo


@dataclass
class CallEvent:
    node: cst.Call
    func: str | None  # raw dotted name of the callee (`model.eval`, `evaluate`)
    receiver: str | None  # dotted receiver of a method call (`model` in `model.eval()`)
    method: str | None
    no_grad: bool  # gradients disabled here (with-block or decorator)
    loops: tuple[cst.CSTNode, ...]  # enclosing for/while loops inside this function
    branch_depth: int  # number of enclosing if/try blocks inside this function


@dataclass
class AssignEvent:
    node: cst.CSTNode
    targets: tuple[str, ...]  # dotted names assigned (`best`, `self.best`)
    value: cst.BaseExpression | None
    loops: tuple[cst.CSTNode, ...]
    no_grad: bool


Event = CallEvent | AssignEvent


@dataclass
class FunctionFlow:
    node: cst.FunctionDef | cst.Module
    name: str
    params: list[str]
    owner: ClassInfo | None  # the class when this is a method
    no_grad: bool  # decorated with @torch.no_grad() / @torch.inference_mode()
    events: list[Event] = field(default_factory=list)

    def calls(self) -> list[CallEvent]:
        return [event for event in self.events if isinstance(event, CallEvent)]
