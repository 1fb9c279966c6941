"""LibCST's parser, minus re-validating its own output.

Every LibCST node checks its fields when it is constructed (``CSTNode.__post_init__`` calls
``_validate``): that whitespace is only whitespace, that parentheses balance, that a keyword has
the spaces it needs. For a tree built by hand that catches mistakes; for the parser's output it
only repeats what the grammar already guaranteed -- LibCST's own comment on ``__post_init__`` says
as much -- and costs 13% of parsing (transformers, every 10th file). Worse, some checks are
stricter than Python: ``() if 0 else(lambda:())`` is valid Python that LibCST parses and then
rejects with a TypeError while validating (LibCST issue #1061).

So nnlint parses with validation switched off for the duration of the call: the tree is the
same, only the redundant checks are skipped. Nodes built at any other time (fixes, rules, user
code) are validated as usual. The switch is undone in a ``finally``; while it is on, nodes built by
another thread of the same process are not validated either -- nnlint parses on one thread.

If a future LibCST's ``__post_init__`` does anything besides validating, the switch is never
thrown and parsing is LibCST's own.
"""

from __future__ import annotations

import ast

import libcst as cst

from nnlint.walker import node_classes

_VALIDATE = cst.CSTNode.__dict__.get("__post_init__")


def _skip_validation(self: cst.CSTNode) -> None:
    pass


def _only_validates(hook: object) -> bool:
    code = getattr(hook, "__code__", None)
    return code is not None and code.co_names == ("_validate",) and code.co_argcount == 1


# Safe only when the base class's hook is the whole story: it only validates, and no node class
# has a hook of its own that would run instead.
SKIPS_VALIDATION = _only_validates(_VALIDATE) and not any(
    "__post_init__" in vars(node_type) for node_type in node_classes()
)


def parse_module(source: str) -> cst.Module:
    """``libcst.parse_module(source)`` without re-validating the nodes the parser builds."""
    if not SKIPS_VALIDATION:
        return cst.parse_module(source)
    cst.CSTNode.__post_init__ = _skip_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(source)
    finally:
        cst.CSTNode.__post_init__ = _VALIDATE  # type: ignore[method-assign]


_LAST_AST: tuple[str, ast.Module] | None = None


def parse_ast(text: str) -> ast.Module:
    """``ast.parse(text)``, remembered for the last text: an editor's lint reads the same text with
    ``ast`` twice (to cut it into statements, nnlint/incremental.py, and to summarise it,
    nnlint/summaries.py). Callers must not change the tree. Raises what ``ast.parse`` raises."""
    global _LAST_AST
    if _LAST_AST is not None and _LAST_AST[0] is text:
        return _LAST_AST[1]
    tree = ast.parse(text)
    _LAST_AST = (text, tree)
    return tree
