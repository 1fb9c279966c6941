"""Paths through one iteration of a training loop, for NN702's "unscaled, then not updated".

`scaler.unscale_(opt)` marks `opt` as unscaled until the next `scaler.update()`; a second
`unscale_(opt)` before that raises ("unscale_() has already been called on this optimizer since
the last update()"). The walk below follows every path through a loop body -- `if` arms, nested
loops (zero or more turns), `continue` to the next iteration, `break` / `return` / `raise` ending
the path -- with the set of optimizers unscaled since the last update, and records each
`unscale_` reached while its optimizer is still unscaled. An exception handler starts from the
state before its `try` (an exception is assumed to come before the scaler calls), so a handler's
`continue` is judged from there. Two `if` statements testing the same expression take the same
arm on one path (`if use_amp: scaler.unscale_(opt)` ... `if use_amp: scaler.step(opt);
scaler.update() else: opt.step()`), within one iteration.

Only the scaler calls nnlint knows (AmpSteps events, same-file helpers inlined) change the state;
a scaler handed to code nnlint cannot see, and calls nnlint cannot see that may step
(``OPAQUE``), count as an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import libcst as cst

from nnlint import walker
from nnlint.rules.distributed._amp import SCALER_HANDED, SCALER_UPDATE, UNSCALE, tested_condition
from nnlint.rules.loop._steps import OPAQUE, Event

# A state: the unscale events still pending (one per optimizer), and the `if` tests this path
# took, with the truth value each had.
State = tuple[frozenset[int], frozenset[tuple[str, bool]]]
_CLEAN: State = (frozenset(), frozenset())
_MAX_TURNS = 4


class UnscalePaths:
    """Walks one loop of one flow for one scaler; ``repeated`` holds (pending unscale, the
    unscale that meets it) pairs once :meth:`run` is done."""

    def __init__(self, module: cst.Module, events: Sequence[Event], scaler: str, distinct_keys: frozenset[str]) -> None:
        self.module = module
        self.unscales: list[Event] = []
        self.by_node: dict[int, list[tuple[str, int]]] = {}
        for event in sorted(events, key=lambda e: e.order):
            if event.kind == UNSCALE and scaler in event.names:
                self.unscales.append(event)
                action = ("unscale", len(self.unscales) - 1)
            elif event.kind in (SCALER_UPDATE, SCALER_HANDED) and scaler in event.names or event.kind == OPAQUE:
                action = ("update", -1)
            else:
                continue
            self.by_node.setdefault(id(event.node), []).append(action)
        self.distinct_keys = distinct_keys  # loop targets: `for opt in optimizers: unscale_(opt)`
        self.repeated: dict[int, int] = {}  # pending unscale -> the unscale that meets it

    def run(self, loop: cst.For | cst.While) -> None:
        entry: set[State] = {_CLEAN}
        for _ in range(_MAX_TURNS):
            sinks: tuple[set[State], set[State]] = (set(), set())
            start = self._apply(loop.test, entry) if isinstance(loop, cst.While) else entry
            out = self._suite(loop.body, start, sinks)
            # A new iteration: the tests may come out otherwise.
            following = {_CLEAN} | {(pending, frozenset()) for pending, _ in out | sinks[0]}
            if following <= entry:
                break
            entry |= following

    # -- transfer --------------------------------------------------------------------------

    def _key(self, index: int) -> str | None:
        return self.unscales[index].key

    def _apply(self, node: cst.CSTNode, states: set[State]) -> set[State]:
        actions: list[tuple[str, int]] = []

        def enter(sub: cst.CSTNode) -> bool:
            if isinstance(sub, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
                return False
            if isinstance(sub, cst.Call):
                actions.extend(self.by_node.get(id(sub), ()))
            return True

        walker.walk(node, enter)
        for kind, index in actions:
            if kind == "update":
                states = {(frozenset(), taken) for _, taken in states}
                continue
            key = self._key(index)
            after: set[State] = set()
            for state, taken in states:
                same = {p for p in state if self._key(p) == key}
                if same and (key is None or key.partition(".")[0] not in self.distinct_keys):
                    for pending in same:
                        self.repeated.setdefault(pending, index)
                after.add((frozenset((state - same) | {index}), taken))
            states = after
        return states

    def _arm(self, test: cst.BaseExpression, states: set[State], body: bool) -> set[State]:
        """The states that enter the body (or the other arm) of an `if` testing ``test``."""
        text, positive = tested_condition(test, self.module)
        truth = positive if body else not positive
        return {
            (pending, taken | {(text, truth)})
            for pending, taken in states
            if (text, not truth) not in taken and self._known(test, taken) is not (not body)
        }

    def _known(self, test: cst.BaseExpression, taken: frozenset[tuple[str, bool]]) -> bool | None:
        """Whether ``test`` holds given the tests this path took (`a or b` after `if a:` took its
        body), None when unknown."""
        if isinstance(test, cst.BooleanOperation):
            left, right = self._known(test.left, taken), self._known(test.right, taken)
            if isinstance(test.operator, cst.Or):
                return True if True in (left, right) else False if left is right is False else None
            return False if False in (left, right) else True if left is right is True else None
        text, positive = tested_condition(test, self.module)
        if (text, positive) in taken:
            return True
        if (text, not positive) in taken:
            return False
        return None

    # -- statements ------------------------------------------------------------------------

    def _expression_of_loop(self, loop: cst.For | cst.While, states: set[State]) -> set[State]:
        return self._apply(loop.iter if isinstance(loop, cst.For) else loop.test, states)

    def _suite(self, suite: cst.BaseSuite, states: set[State], sinks: tuple[set[State], set[State]]) -> set[State]:
        body: Iterable[cst.CSTNode] = suite.body if isinstance(suite, cst.IndentedBlock) else [suite]
        for statement in body:
            if not states:
                break
            states = self._statement(statement, states, sinks)
        return states

    def _statement(self, node: cst.CSTNode, states: set[State], sinks: tuple[set[State], set[State]]) -> set[State]:
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            for small in node.body:
                if isinstance(small, cst.Continue):
                    sinks[0].update(states)
                    return set()
                if isinstance(small, cst.Break):
                    sinks[1].update(states)
                    return set()
                states = self._apply(small, states)
                if isinstance(small, (cst.Return, cst.Raise)):
                    return set()
            return states
        if isinstance(node, cst.If):
            states = self._apply(node.test, states)
            out = self._suite(node.body, self._arm(node.test, states, True), sinks)
            other = self._arm(node.test, states, False)
            if isinstance(node.orelse, cst.If):
                return out | self._statement(node.orelse, other, sinks)
            if isinstance(node.orelse, cst.Else):
                return out | self._suite(node.orelse.body, other, sinks)
            return out | other
        if isinstance(node, (cst.For, cst.While)):
            inner: tuple[set[State], set[State]] = (set(), set())
            entry = set(states)
            for _ in range(_MAX_TURNS):
                turned = self._suite(node.body, self._expression_of_loop(node, entry), inner)
                grown = entry | turned | inner[0]
                if grown <= entry:
                    break
                entry = grown
            if node.orelse is not None:
                return self._suite(node.orelse.body, entry, sinks) | inner[1]
            return entry | inner[1]
        if isinstance(node, cst.With):
            for item in node.items:
                states = self._apply(item.item, states)
            return self._suite(node.body, states, sinks)
        if isinstance(node, (cst.Try, cst.TryStar)):
            out = self._suite(node.body, states, sinks)
            if node.orelse is not None:
                out = self._suite(node.orelse.body, out, sinks)
            for handler in node.handlers:
                out |= self._suite(handler.body, states, sinks)
            if node.finalbody is not None:
                out = self._suite(node.finalbody.body, out, sinks)
            return out
        if isinstance(node, cst.Match):
            out = set(states)
            for case in node.cases:
                out |= self._suite(case.body, states, sinks)
            return out
        return states  # definitions: their own flows
