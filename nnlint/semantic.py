"""Per-file facts, gathered in one shallow walk over the statements of a module.

The walk visits statements only (never expressions), so it costs a small fraction of the parse.
It records what the rules need to resolve names: import aliases mapped to qualified names, and the
classes and functions defined in the file. Whether a class is an ``nn.Module`` is answered by the
project's class hierarchy (``project.py``), which may need other files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import libcst as cst

from nnlint.names import dotted_name


@dataclass
class ClassInfo:
    name: str
    qualname: str
    bases: tuple[str, ...]  # qualified names of the base classes, as far as they resolve
    node: cst.ClassDef | None = None
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)


def qualify(dotted: str, aliases: dict[str, str], local_classes: Collection[str], module: str) -> str:
    """``nn.Linear`` -> ``torch.nn.Linear`` through imports; a local class -> ``module.Class``."""
    head, _, rest = dotted.partition(".")
    target = aliases.get(head)
    if target is None:
        if head in local_classes and module:
            target = f"{module}.{head}"
        else:
            return dotted
    return f"{target}.{rest}" if rest else target


@dataclass
class ModuleSummary:
    """What other files need to know about a module: its imports and its class bases.

    Plain data (strings only), so it can be cached and shared between processes.
    """

    module: str
    aliases: dict[str, str]
    class_bases: dict[str, tuple[str, ...]]

    def resolve(self, dotted: str) -> str:
        """Qualify ``dotted`` through this module's imports and top-level definitions."""
        return qualify(dotted, self.aliases, self.class_bases, self.module)


def _relative_base(module: str, is_package: bool, level: int) -> str:
    """The package a relative import of ``level`` dots starts from."""
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    return ".".join(parts)


def _import_aliases(
    node: cst.Import | cst.ImportFrom, module: str, is_package: bool
) -> Iterator[tuple[str, str]]:
    if isinstance(node, cst.Import):
        for alias in node.names:
            full = dotted_name(alias.name)  # type: ignore[arg-type]
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield alias.asname.name.value, full
            else:
                # `import torch.nn` binds `torch`.
                head = full.split(".")[0]
                yield head, head
        return
    if isinstance(node.names, cst.ImportStar):
        return
    source = dotted_name(node.module) if node.module is not None else ""
    if source is None:
        return
    if node.relative:
        base = _relative_base(module, is_package, len(node.relative))
        source = ".".join(p for p in (base, source) if p)
    for alias in node.names:
        if not isinstance(alias.name, cst.Name):
            continue
        local = alias.name.value
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            local = alias.asname.name.value
        yield local, f"{source}.{alias.name.value}" if source else alias.name.value


def _body_statements(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The statements directly inside a compound statement, including else/except/finally parts."""
    body = getattr(node, "body", None)
    if isinstance(body, cst.BaseSuite):
        yield from body.body  # type: ignore[misc]
    elif isinstance(body, (list, tuple)):
        yield from body
    for part in ("orelse", "finalbody"):
        sub = getattr(node, part, None)
        if sub is not None:
            yield from _body_statements(sub)
    for handler in getattr(node, "handlers", ()) or ():
        yield from _body_statements(handler)
    for case in getattr(node, "cases", ()) or ():
        yield from _body_statements(case)


@dataclass
class FileFacts:
    module: str
    is_package: bool
    aliases: dict[str, str] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)  # innermost definition wins
    top_level_classes: dict[str, ClassInfo] = field(default_factory=dict)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)  # module-level functions
    class_of_node: dict[cst.ClassDef, ClassInfo] = field(default_factory=dict)
    # Many rules ask for the name of the same call. Keyed by id(): the tree outlives these facts,
    # and a CSTNode's own __hash__ is a Python-level call.
    _qualified: dict[int, str | None] = field(default_factory=dict, repr=False, compare=False)

    def summary(self) -> ModuleSummary:
        return ModuleSummary(
            module=self.module,
            aliases=dict(self.aliases),
            class_bases={name: info.bases for name, info in self.top_level_classes.items()},
        )

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        """The import-resolved dotted name of a Name/Attribute chain (``nn.Linear`` ->
        ``torch.nn.Linear``); local names resolve to themselves; None for other expressions."""
        try:
            return self._qualified[id(node)]
        except KeyError:
            dotted = dotted_name(node)
            name = self._qualified[id(node)] = None if dotted is None else self.resolve(dotted)
            return name

    def resolve(self, dotted: str) -> str:
        """Qualify a dotted name through this file's imports and top-level classes."""
        return qualify(dotted, self.aliases, self.top_level_classes, self.module)


def collect_facts(module_node: cst.Module, module: str = "", is_package: bool = False) -> FileFacts:
    """One walk over the statements of ``module_node`` (expressions are never entered)."""
    facts = FileFacts(module=module, is_package=is_package)
    pending_bases: list[tuple[ClassInfo, cst.ClassDef]] = []
    stack: list[tuple[cst.CSTNode, bool, ClassInfo | None]] = [
        (stmt, True, None) for stmt in reversed(module_node.body)
    ]
    while stack:
        stmt, top_level, owner = stack.pop()
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    for local, target in _import_aliases(small, module, is_package):
                        # A module-level import wins over one buried in a function.
                        if top_level or local not in facts.aliases:
                            facts.aliases[local] = target
            continue
        if isinstance(stmt, cst.ClassDef):
            name = stmt.name.value
            info = ClassInfo(name=name, qualname=f"{module}.{name}" if module else name, bases=(), node=stmt)
            facts.classes[name] = info
            facts.class_of_node[stmt] = info
            if top_level:
                facts.top_level_classes[name] = info
            pending_bases.append((info, stmt))
            for inner in reversed(stmt.body.body):  # type: ignore[union-attr]
                stack.append((inner, False, info))
            continue
        if isinstance(stmt, cst.FunctionDef):
            if owner is not None:
                owner.methods[stmt.name.value] = stmt
            elif top_level:
                facts.functions[stmt.name.value] = stmt
            for inner in reversed(list(_body_statements(stmt))):
                stack.append((inner, False, None))
            continue
        # if / try / with / for / while / match: definitions inside keep their level.
        for inner in reversed(list(_body_statements(stmt))):
            stack.append((inner, top_level, owner))
    # Bases are resolved after all imports are known (an import may follow the class).
    for info, node in pending_bases:
        resolved = []
        for arg in node.bases:
            if arg.keyword is None and arg.star == "":
                qualname = facts.qualified_name(arg.value)
                if qualname is not None:
                    resolved.append(qualname)
        info.bases = tuple(resolved)
    return facts
