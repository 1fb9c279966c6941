"""A fast, read-only traversal of LibCST trees.

LibCST's own ``node.visit(visitor)`` rebuilds every node it passes through (it is built for
transformers), which costs about as much as the parse itself. nnlint only reads trees, so it walks
them with per-type child getters generated once from the node dataclasses, skipping the
whitespace, comma and bracket tokens that no rule looks at. The walk is iterative, so deeply nested
code cannot exhaust the recursion limit.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Iterator, Sequence

import libcst as cst

# Field types that carry only formatting: whitespace, punctuation and operator tokens.
_FORMATTING_BASES: tuple[type, ...] = (
    cst.BaseParenthesizableWhitespace,
    cst.TrailingWhitespace,
    cst.EmptyLine,
    cst.Newline,
    cst.Comma,
    cst.Dot,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
    cst.Colon,
    cst.AssignEqual,
    cst.Semicolon,
    cst.BaseBinaryOp,
    cst.BaseBooleanOp,
    cst.BaseCompOp,
    cst.BaseUnaryOp,
    cst.BaseAugOp,
    cst.Asynchronous,
    cst.ImportStar,
    cst.ParamStar,
    cst.ParamSlash,
)

ChildGetter = Callable[[cst.CSTNode], Sequence[cst.CSTNode]]


def _hint_types(hint: object) -> tuple[bool, list[type]]:
    """Split a field's type hint into (is_sequence, the node classes it may hold)."""
    origin = typing.get_origin(hint)
    if origin in (list, tuple, Sequence, typing.Sequence) or origin is typing.Sequence:
        args = typing.get_args(hint)
        return True, [t for a in args for t in _hint_types(a)[1]]
    if origin is typing.Union:
        return False, [t for a in typing.get_args(hint) for t in _hint_types(a)[1]]
    if isinstance(hint, type) and issubclass(hint, cst.CSTNode):
        return False, [hint]
    return False, []


def _carries_code(node_types: list[type]) -> bool:
    return any(not issubclass(t, _FORMATTING_BASES) for t in node_types)


def _make_getter(node_type: type) -> ChildGetter | None:
    """Generate a function returning the code-carrying children of ``node_type`` in source order."""
    hints = typing.get_type_hints(node_type)
    parts: list[str] = []
    for field in dataclasses.fields(node_type):
        is_sequence, node_types = _hint_types(hints.get(field.name))
        if not node_types or not _carries_code(node_types):
            continue
        if is_sequence:
            parts.append(f"out.extend(n.{field.name})")
        else:
            # Optional fields hold None or a MaybeSentinel; only nodes are children.
            parts.append(f"v = n.{field.name}\n    if v.__class__ in NODE_CLASSES: out.append(v)")
    if not parts:
        return None
    body = "\n    ".join(parts)
    source = f"def get(n):\n    out = []\n    {body}\n    return out\n"
    namespace: dict[str, object] = {"NODE_CLASSES": _node_classes()}
    exec(compile(source, f"<nnlint child getter for {node_type.__name__}>", "exec"), namespace)
    return typing.cast(ChildGetter, namespace["get"])


@functools.cache
def _node_classes() -> frozenset[type]:
    """Every CSTNode class. A set lookup on the value's class: ``isinstance(v, CSTNode)`` goes
    through the ABC machinery, once per optional field of every node walked."""
    found: set[type] = set()
    pending = [cst.CSTNode]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return frozenset(found)


_GETTERS: dict[type, ChildGetter | None] = {}


def children(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """The code-carrying children of ``node``, in source order."""
    node_type = type(node)
    try:
        getter = _GETTERS[node_type]
    except KeyError:
        getter = _GETTERS[node_type] = _make_getter(node_type)
    return getter(node) if getter is not None else ()


class _Leave:
    """Stack marker: the walk has finished the children of ``node``."""

    __slots__ = ("node",)

    def __init__(self, node: cst.CSTNode) -> None:
        self.node = node


def walk(
    root: cst.CSTNode,
    enter: Callable[[cst.CSTNode], bool | None],
    leave: Callable[[cst.CSTNode], None] | None = None,
    leave_types: frozenset[type] = frozenset(),
) -> None:
    """Depth-first, source-order walk.

    ``enter(node)`` returning False skips the node's children. ``leave(node)`` runs after the
    children of nodes whose type is in ``leave_types`` (only those, to keep the walk cheap).
    """
    getters = _GETTERS
    stack: list[object] = [root]
    pop = stack.pop
    push = stack.append
    extend = stack.extend
    while stack:
        item = pop()
        if type(item) is _Leave:
            leave(item.node)  # type: ignore[misc, union-attr]
            continue
        node: cst.CSTNode = item  # type: ignore[assignment]
        if enter(node) is False:
            continue
        node_type = type(node)
        if leave is not None and node_type in leave_types:
            push(_Leave(node))
        try:
            getter = getters[node_type]
        except KeyError:
            getter = getters[node_type] = _make_getter(node_type)
        if getter is not None:
            kids = getter(node)
            if kids:
                extend(reversed(kids))


def iter_nodes(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every code-carrying node under ``root`` (inclusive), in source order."""
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        yield node
        kids = children(node)
        if kids:
            stack.extend(reversed(kids))
