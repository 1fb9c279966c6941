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
_FORMATTING = frozenset(_FORMATTING_BASES)

_SEQUENCES = (list, tuple, Sequence, typing.Sequence)

# LibCST declares some fields out of source order (a class's body before its decorators and
# bases); the walk follows the code, as LibCST's own visitor does.
_SOURCE_ORDER: dict[type, tuple[str, ...]] = {
    cst.Arg: ("keyword", "value"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.Parameters: ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.TypeAlias: ("name", "type_parameters", "value"),
}

ChildGetter = Callable[[cst.CSTNode], Sequence[cst.CSTNode]]


def _hint_types(hint: object) -> tuple[bool, list[type]]:
    """Split a field's type hint into (may hold a sequence of nodes, the node classes it may
    hold)."""
    origin = typing.get_origin(hint)
    if origin in _SEQUENCES:
        return True, [t for a in typing.get_args(hint) for t in _hint_types(a)[1]]
    if origin is typing.Union:
        shapes = [_hint_types(a) for a in typing.get_args(hint)]
        return any(many for many, _ in shapes), [t for _, types in shapes for t in types]
    # MRO membership rather than issubclass(): the node bases are ABCs, and their subclass hook
    # costs more than the rest of generating a getter (this runs on every one-file invocation).
    if isinstance(hint, type) and cst.CSTNode in hint.__mro__:
        return False, [hint]
    return False, []


def _is_formatting(node_type: type) -> bool:
    return not _FORMATTING.isdisjoint(node_type.__mro__)


def _has_forward_reference(hint: object) -> bool:
    if isinstance(hint, (str, typing.ForwardRef)):
        return True
    return any(_has_forward_reference(arg) for arg in typing.get_args(hint))


def _field_hints(node_type: type) -> list[tuple[str, object]]:
    """(name, type hint) of each field, in source order. LibCST's dataclass fields mostly hold
    evaluated types; ``get_type_hints`` (slow) is needed only for a forward reference."""
    fields = dataclasses.fields(node_type)
    if any(_has_forward_reference(field.type) for field in fields):
        hints = typing.get_type_hints(node_type)
        named = [(field.name, hints.get(field.name)) for field in fields]
    else:
        named = [(field.name, field.type) for field in fields]
    order = _SOURCE_ORDER.get(node_type)
    if order:
        named.sort(key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    return named


def _make_getter(node_type: type) -> ChildGetter | None:
    """Generate a function returning the code-carrying children of ``node_type`` in source order."""
    parts: list[str] = []
    for name, hint in _field_hints(node_type):
        many, node_types = _hint_types(hint)
        if all(_is_formatting(t) for t in node_types):
            continue
        if typing.get_origin(hint) in _SEQUENCES:
            parts.append(f"out.extend(n.{name})")
            continue
        # Optional fields hold None or a MaybeSentinel, and a union may hold a formatting token
        # (`*` in parameters) or a sequence: only code nodes are children.
        parts.append(f"v = n.{name}\n    if v.__class__ in CODE_CLASSES: out.append(v)")
        if many:  # `from m import a, b` or `*`; an f-string's format spec
            parts.append("elif v.__class__ is tuple or v.__class__ is list: out.extend(v)")
    if not parts:
        return None
    body = "\n    ".join(parts)
    source = f"def get(n):\n    out = []\n    {body}\n    return out\n"
    namespace: dict[str, object] = {"CODE_CLASSES": _code_classes()}
    exec(compile(source, f"<nnlint child getter for {node_type.__name__}>", "exec"), namespace)
    return typing.cast(ChildGetter, namespace["get"])


@functools.cache
def _code_classes() -> frozenset[type]:
    """Every CSTNode class that carries code. A set lookup on the value's class:
    ``isinstance(v, CSTNode)`` goes through the ABC machinery, once per optional field of every
    node walked."""
    return frozenset(t for t in node_classes() if not _is_formatting(t))


@functools.cache
def node_classes() -> frozenset[type]:
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
