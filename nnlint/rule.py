"""The base class every rule derives from -- built-in rules and third-party rule packs alike.

A rule is a small class: a stable ``code`` and kebab-case ``name``, documentation, VALID and
INVALID examples that the test suite runs, and ``visit_<Node>`` / ``leave_<Node>`` methods named
after LibCST node classes. The engine instantiates every enabled rule once per file and calls its
methods during a single traversal; ``self.ctx`` gives the file's facts and the current scope.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from nnlint.findings import NodeFix  # noqa: F401  (rules and rule packs import it from here)

# LibCST is imported where it is used: a run answered from the cache never needs it.
if TYPE_CHECKING:
    import libcst as cst

    from nnlint.context import FileContext

_CODE = re.compile(r"^[A-Z]{1,4}[0-9]{3,4}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
ERROR_MARK = "# error"
TAGS = frozenset({"deprecated", "unnecessary"})


@dataclass(frozen=True)
class Invalid:
    """An INVALID example: every line ending in ``# error`` must carry a finding of the rule;
    ``fixed``, when given, is the source after applying the rule's fix."""

    code: str
    fixed: str | None = None


def handler_methods(visitor: type) -> dict[tuple[str, type[cst.CSTNode]], str]:
    """{("visit"|"leave", node class): method name} for the ``visit_X``/``leave_X`` methods of a
    visitor class, X being a LibCST node class name."""
    import libcst as cst

    found: dict[tuple[str, type[cst.CSTNode]], str] = {}
    for attr in dir(visitor):
        kind, _, node_name = attr.partition("_")
        if kind not in ("visit", "leave") or not node_name:
            continue
        node_type = getattr(cst, node_name, None)
        if isinstance(node_type, type) and issubclass(node_type, cst.CSTNode):
            found[(kind, node_type)] = attr
    return found


class Rule:
    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # Documentation, in the order `nnlint rule CODE` prints it.
    what: ClassVar[str] = ""
    why: ClassVar[str] = ""
    example: ClassVar[str] = ""  # defaults to the first INVALID example
    use_instead: ClassVar[str] = ""  # defaults to the first VALID example
    fix_safety: ClassVar[str] = "No fix is available."
    fix_availability: ClassVar[str] = "none"  # "safe", "unsafe" or "none"
    default_enabled: ClassVar[bool] = True
    # How editors may render the finding (LSP diagnostic tags): "deprecated" (struck through) for
    # an API torch deprecated or removed, "unnecessary" (faded) for code that does nothing.
    tags: ClassVar[frozenset[str]] = frozenset()
    # Rules that reason about the order of calls read ``ctx.flows`` (see flow.py) in leave_Module.
    needs_flow: ClassVar[bool] = False
    # Substrings (without dots) of which at least one must occur in a file's source or dotted
    # module name for the rule to possibly report there; the engine skips the rule (and the
    # parse, when no rule is left) otherwise. Set it only when that is provable from the rule's
    # code, e.g. ("super",) for a rule that only looks at calls of `super`. None: always run.
    triggers: ClassVar[tuple[str, ...] | None] = None
    VALID: ClassVar[Sequence[str]] = ()
    INVALID: ClassVar[Sequence[str | Invalid]] = ()

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def report(self, node: cst.CSTNode, message: str, fix: NodeFix | None = None) -> None:
        self.ctx.add_finding(self, node, message, fix)

    # -- class-level helpers ---------------------------------------------------------------

    @classmethod
    def handlers(cls) -> dict[tuple[str, type[cst.CSTNode]], str]:
        return handler_methods(cls)

    @classmethod
    def invalid_examples(cls) -> list[Invalid]:
        return [ex if isinstance(ex, Invalid) else Invalid(ex) for ex in cls.INVALID]

    @classmethod
    def example_text(cls) -> str:
        if cls.example:
            return cls.example
        invalid = cls.invalid_examples()
        return invalid[0].code if invalid else ""

    @classmethod
    def use_instead_text(cls) -> str:
        if cls.use_instead:
            return cls.use_instead
        return cls.VALID[0] if cls.VALID else ""

    @classmethod
    def validate_definition(cls) -> list[str]:
        """Problems with the rule's own definition (checked by tests and when loading packs)."""
        problems = []
        if not _CODE.match(cls.code):
            problems.append(f"code {cls.code!r} is not like NN123")
        if not _NAME.match(cls.name):
            problems.append(f"name {cls.name!r} is not kebab-case")
        if not cls.tags <= TAGS:
            problems.append(f"tags {sorted(cls.tags - TAGS)} are not among {sorted(TAGS)}")
        if cls.fix_availability not in ("safe", "unsafe", "none"):
            problems.append(f"fix_availability {cls.fix_availability!r} is not safe/unsafe/none")
        for attr in ("summary", "what", "why"):
            if not getattr(cls, attr).strip():
                problems.append(f"missing {attr}")
        if not cls.VALID or not cls.INVALID:
            problems.append("needs at least one VALID and one INVALID example")
        if not cls.handlers():
            problems.append("defines no visit_/leave_ method")
        return problems
