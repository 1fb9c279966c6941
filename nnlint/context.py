"""What a rule sees while the engine walks one file: facts, the current scope, and ``report``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import libcst as cst

from nnlint.project import ClassHierarchy
from nnlint.semantic import ClassInfo, FileFacts

if TYPE_CHECKING:
    from nnlint.findings import NodeFix
    from nnlint.settings import Settings
    from nnlint.flow_events import FunctionFlow

# Nodes whose entry and exit the engine tracks, so rules can ask where they are.
SCOPE_TYPES: frozenset[type[cst.CSTNode]] = frozenset({cst.ClassDef, cst.FunctionDef, cst.Lambda})
BLOCK_TYPES: frozenset[type[cst.CSTNode]] = frozenset(
    {cst.With, cst.For, cst.While, cst.If, cst.Try, cst.TryStar}
)
STATEMENT_TYPES: frozenset[type[cst.CSTNode]] = frozenset({cst.SimpleStatementLine, cst.SimpleStatementSuite})
TRACKED_TYPES = SCOPE_TYPES | BLOCK_TYPES | STATEMENT_TYPES

T = TypeVar("T")


class ReportingRule(Protocol):
    """What the context and the engine need of the rule behind a finding (nnlint.rule.Rule)."""

    code: ClassVar[str]
    name: ClassVar[str]


@dataclass
class RawFinding:
    rule: ReportingRule
    node: cst.CSTNode
    statement: cst.CSTNode | None
    message: str
    fix: NodeFix | None


class FileContext:
    def __init__(
        self,
        path: str,
        source: str,
        module: cst.Module,
        facts: FileFacts,
        hierarchy: ClassHierarchy,
        settings: Settings | None = None,
    ) -> None:
        self.path = path
        self.source = source
        # The run's settings (None when linted without any: examples, tests, the defaults apply).
        self.settings = settings
        self.module = module
        self.facts = facts
        self.hierarchy = hierarchy
        self.scopes: list[cst.CSTNode] = []  # ClassDef / FunctionDef / Lambda, outermost first
        self.blocks: list[cst.CSTNode] = []  # with / for / while / if / try, outermost first
        self.statements: list[cst.CSTNode] = []
        self.raw_findings: list[RawFinding] = []
        self._module_verdicts: dict[str, bool] = {}
        self._module_calls: dict[int, str | None] = {}  # id(call): see FileFacts._qualified
        self.flows: list[FunctionFlow] = []  # filled by flow.FlowCollector when a rule needs it
        self._shared: dict[Callable[[FileContext], Any], Any] = {}
        # (enclosing function, (class, method)) for the current scope stack; rules ask on every
        # call and assignment, the stack changes only at a def, class or lambda.
        self._scope_facts: tuple[cst.FunctionDef | None, tuple[cst.ClassDef, cst.FunctionDef] | None] | None = None

    def shared(self, analysis: Callable[[FileContext], T]) -> T:
        """``analysis(self)``, computed once per file and shared by every rule that asks. It lives
        and dies with this context (a module-level memo keyed on the context would keep every
        file's tree alive whenever the analysis refers back to the context)."""
        try:
            return self._shared[analysis]
        except KeyError:
            result = self._shared[analysis] = analysis(self)
            return result

    def release(self) -> None:
        """Drop what refers back to this context once the file is done (findings name their rule
        instance, which holds the context), so the tree is freed at once, not at the next full
        garbage collection."""
        self._shared.clear()
        self.flows.clear()
        self.raw_findings.clear()

    # -- engine side -----------------------------------------------------------------------

    def enter(self, node: cst.CSTNode) -> None:
        node_type = type(node)
        if node_type in SCOPE_TYPES:
            self.scopes.append(node)
            self._scope_facts = None
        elif node_type in BLOCK_TYPES:
            self.blocks.append(node)
        elif node_type in STATEMENT_TYPES:
            self.statements.append(node)

    def leave(self, node: cst.CSTNode) -> None:
        node_type = type(node)
        if node_type in SCOPE_TYPES:
            self.scopes.pop()
            self._scope_facts = None
        elif node_type in BLOCK_TYPES:
            self.blocks.pop()
        elif node_type in STATEMENT_TYPES:
            self.statements.pop()

    def add_finding(self, rule: ReportingRule, node: cst.CSTNode, message: str, fix: NodeFix | None) -> None:
        statement = self.statements[-1] if self.statements else None
        self.raw_findings.append(RawFinding(rule, node, statement, message, fix))

    # -- rule side: names ------------------------------------------------------------------

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        """Import-resolved dotted name (``F.dropout`` -> ``torch.nn.functional.dropout``)."""
        return self.facts.qualified_name(node)

    def call_name(self, node: cst.Call) -> str | None:
        return self.facts.qualified_name(node.func)

    # -- rule side: classes ----------------------------------------------------------------

    def is_module_class(self, info: ClassInfo) -> bool:
        verdict = self._module_verdicts.get(info.qualname)
        if verdict is None:
            verdict = self.hierarchy.is_module_class(info.qualname, info.bases)
            self._module_verdicts[info.qualname] = verdict
        return verdict

    def module_class_of_call(self, node: cst.Call) -> str | None:
        """The class name when the call constructs a Module; asked by many rules, answered once."""
        try:
            return self._module_calls[id(node)]
        except KeyError:
            name = self.qualified_name(node.func)
            if name is None or not name.rpartition(".")[2][:1].isupper() or not self.is_module_class_name(name):
                name = None
            self._module_calls[id(node)] = name
            return name

    def is_module_class_name(self, qualname: str) -> bool:
        """For a qualified class name (``torch.nn.Linear``, ``pkg.models.Backbone``)."""
        local = self.facts.classes.get(qualname.rpartition(".")[2])
        if local is not None and local.qualname == qualname:
            return self.is_module_class(local)
        return self.hierarchy.is_module_class(qualname)

    @property
    def enclosing_class(self) -> ClassInfo | None:
        for scope in reversed(self.scopes):
            if isinstance(scope, cst.ClassDef):
                return self.facts.class_of_node.get(scope)
        return None

    @property
    def enclosing_function(self) -> cst.FunctionDef | None:
        return (self._scope_facts or self._compute_scope_facts())[0]

    @property
    def method_scopes(self) -> tuple[cst.ClassDef, cst.FunctionDef] | None:
        """(class, method) when the walk is inside a method of a class, possibly in a function or
        lambda nested in that method; None in a class body or outside classes."""
        return (self._scope_facts or self._compute_scope_facts())[1]

    def _compute_scope_facts(self) -> tuple[cst.FunctionDef | None, tuple[cst.ClassDef, cst.FunctionDef] | None]:
        scopes = self.scopes
        function = next((s for s in reversed(scopes) if type(s) is cst.FunctionDef), None)
        method = None
        for index in range(len(scopes) - 2, -1, -1):
            if type(scopes[index]) is cst.ClassDef:
                inner = scopes[index + 1]
                method = (scopes[index], inner) if type(inner) is cst.FunctionDef else None
                break
        self._scope_facts = (function, method)
        return self._scope_facts

    @property
    def method_class(self) -> ClassInfo | None:
        """The class whose method we are directly in (not a function nested in a method)."""
        if len(self.scopes) >= 2 and isinstance(self.scopes[-1], cst.FunctionDef):
            owner = self.scopes[-2]
            if isinstance(owner, cst.ClassDef):
                return self.facts.class_of_node.get(owner)
        return None

    def in_module_method(self) -> bool:
        info = self.method_class
        return info is not None and self.is_module_class(info)
