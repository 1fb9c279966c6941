"""Ordered events per function, for the rules that reason about order: mode switches, forward
calls, training steps, snapshots.

The collector runs inside the engine's single traversal (as an internal visitor placed before the
rules) and records, for every function and for module-level code, the calls and assignments in
source order with their context: enclosing loops and whether gradients are disabled there. Rules
analyse the result when the module is left. Nested functions and classes get their own flows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.flow_events import AssignEvent, CallEvent, Event, FunctionFlow
from nnlint.names import dotted_name

if TYPE_CHECKING:
    from nnlint.context import FileContext
    from nnlint.semantic import ClassInfo

NO_GRAD_CONTEXTS = frozenset(
    {
        "torch.no_grad",
        "torch.inference_mode",
        "torch.autograd.no_grad",
        "torch.autograd.grad_mode.no_grad",
        "torch.autograd.grad_mode.inference_mode",
    }
)
_SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled"})

# The event types live in flow_events (the context holds them); rules import them from here.
__all__ = [
    "NO_GRAD_CONTEXTS", "AssignEvent", "CallEvent", "Event", "FunctionFlow", "FlowCollector", "disables_grad",
    "flows_by_name", "methods_of",
]


def disables_grad(ctx: FileContext, node: cst.BaseExpression) -> bool:
    """Whether a with-item or decorator turns gradients off: `torch.no_grad()`,
    `torch.inference_mode()`, `torch.set_grad_enabled(False)` (as imported in this file)."""
    target = node.func if isinstance(node, cst.Call) else node
    name = ctx.qualified_name(target)
    if name in NO_GRAD_CONTEXTS:
        return True
    if isinstance(node, cst.Call) and name in _SET_GRAD_ENABLED and node.args:
        value = node.args[0].value
        return isinstance(value, cst.Name) and value.value == "False"
    return False


def _positional_params(node: cst.FunctionDef) -> list[str]:
    params = [p.name.value for p in (*node.params.posonly_params, *node.params.params)]
    return params


class FlowCollector:
    """Internal visitor: builds ``ctx.flows`` (one FunctionFlow per function, module first)."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        module_flow = FunctionFlow(ctx.module, "<module>", [], None, False)
        ctx.flows = [module_flow]
        self._stack: list[FunctionFlow] = [module_flow]
        self._block_base: list[int] = [0]  # len(ctx.blocks) when each flow started
        self._no_grad_withs: dict[cst.With, bool] = {}
        # Where-facts per (flow, innermost block): a block's node fixes the whole block stack
        # above it, and a function has thousands of calls but few blocks.
        self._places: dict[tuple[int, cst.CSTNode | None], tuple[bool, tuple[cst.CSTNode, ...], int]] = {}

    # -- context ---------------------------------------------------------------------------

    def _is_no_grad_call(self, node: cst.BaseExpression) -> bool:
        return disables_grad(self.ctx, node)

    def _with_disables_grad(self, node: cst.With) -> bool:
        verdict = self._no_grad_withs.get(node)
        if verdict is None:
            verdict = any(self._is_no_grad_call(item.item) for item in node.items)
            self._no_grad_withs[node] = verdict
        return verdict

    def _where(self) -> tuple[bool, tuple[cst.CSTNode, ...], int]:
        flow = self._stack[-1]
        blocks = self.ctx.blocks
        key = (id(flow), blocks[-1] if len(blocks) > self._block_base[-1] else None)
        place = self._places.get(key)
        if place is None:
            place = self._places[key] = self._place(flow, blocks[self._block_base[-1] :])
        return place

    def _place(self, flow: FunctionFlow, blocks: list[cst.CSTNode]) -> tuple[bool, tuple[cst.CSTNode, ...], int]:
        no_grad = flow.no_grad or any(
            isinstance(block, cst.With) and self._with_disables_grad(block) for block in blocks
        )
        loops = tuple(block for block in blocks if isinstance(block, (cst.For, cst.While)))
        branches = sum(1 for block in blocks if isinstance(block, (cst.If, cst.Try, cst.TryStar)))
        return no_grad, loops, branches

    # -- visitor methods -------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        owner = self.ctx.method_class
        no_grad = any(self._is_no_grad_call(d.decorator) for d in node.decorators)
        flow = FunctionFlow(node, node.name.value, _positional_params(node), owner, no_grad)
        self.ctx.flows.append(flow)
        self._stack.append(flow)
        self._block_base.append(len(self.ctx.blocks))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._stack.pop()
        self._block_base.pop()

    def visit_Call(self, node: cst.Call) -> None:
        func = dotted_name(node.func)
        receiver = method = None
        if isinstance(node.func, cst.Attribute):
            receiver = dotted_name(node.func.value)
            if receiver is None:
                # A chain like `model.to(dev).eval()`: the receiver is the chain's root variable.
                root = node.func.value
                while isinstance(root, cst.Call) and isinstance(root.func, cst.Attribute):
                    root = root.func.value
                receiver = dotted_name(root)
            method = node.func.attr.value
        no_grad, loops, branches = self._where()
        self._stack[-1].events.append(CallEvent(node, func, receiver, method, no_grad, loops, branches))

    def _assign(self, node: cst.CSTNode, targets: list[cst.BaseExpression], value: cst.BaseExpression | None) -> None:
        names = tuple(name for name in (dotted_name(t) for t in targets) if name is not None)
        if not names:
            return
        no_grad, loops, _ = self._where()
        self._stack[-1].events.append(AssignEvent(node, names, value, loops, no_grad))

    def visit_Assign(self, node: cst.Assign) -> None:
        self._assign(node, [t.target for t in node.targets], node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._assign(node, [node.target], node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._assign(node, [node.target], node.value)


def flows_by_name(ctx: FileContext) -> dict[str, FunctionFlow]:
    """Module-level functions by name (the helpers a call like `evaluate(model)` can reach)."""
    return {
        flow.name: flow
        for flow in ctx.flows
        if isinstance(flow.node, cst.FunctionDef) and flow.owner is None and flow.node in ctx.facts.functions.values()
    }


def methods_of(ctx: FileContext, owner: ClassInfo) -> dict[str, FunctionFlow]:
    return {flow.name: flow for flow in ctx.flows if flow.owner is owner}
