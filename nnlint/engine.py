"""Lint one source: parse once, gather facts, run every enabled rule in one traversal, place and
suppress findings."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from nnlint import walker
from nnlint.context import TRACKED_TYPES, FileContext
from nnlint.flow import FlowCollector
from nnlint.findings import FileError, FileResult, Finding
from nnlint.fixes import to_text_fix
from nnlint.parsing import parse_module
from nnlint.positions import node_ranges
from nnlint.project import ClassHierarchy
from nnlint.rule import Rule, handler_methods
from nnlint.semantic import collect_facts
from nnlint.sources import TooDeeplyNested, too_deeply_nested
from nnlint.suppression import file_directive, line_suppressions

if TYPE_CHECKING:
    from nnlint.settings import Settings

_PARSER_PREFIX = re.compile(r"^(?:parser error: )?(?:error at \d+:\d+: )?")
Handler = Callable[[cst.CSTNode], object]
BUG_HINT = "this is a bug in nnlint; please report it with the file that triggers it"


def _syntax_error(path: str, source: str, exc: cst.ParserSyntaxError) -> FileError:
    """Report where CPython says the error is (its messages and positions are the ones users
    know); if CPython accepts the file, LibCST does not support its syntax yet."""
    try:
        compile(source, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as py_error:
        return FileError(path, f"syntax error: {py_error.msg}", py_error.lineno, py_error.offset, "syntax")
    except (ValueError, RecursionError, MemoryError):
        pass
    else:
        message = _PARSER_PREFIX.sub("", exc.message.splitlines()[0]) if exc.message else "invalid syntax"
        return FileError(
            path, f"cannot parse (syntax not supported by LibCST {_libcst_version()}): {message}",
            exc.editor_line, exc.editor_column, "syntax",
        )
    message = _PARSER_PREFIX.sub("", exc.message.splitlines()[0]) if exc.message else "invalid syntax"
    return FileError(path, f"syntax error: {message}", exc.editor_line, exc.editor_column, "syntax")


def _libcst_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("libcst")
    except PackageNotFoundError:  # pragma: no cover
        return "?"


def may_report(rule: type[Rule], source: str, module: str) -> bool:
    """The pre-filter: False when none of the rule's ``triggers`` occurs in the source or the module
    name (every name a rule can see is spelled in one of them)."""
    triggers = rule.triggers
    return triggers is None or any(t in source or t in module for t in triggers)


def _compiles(source: str, path: str) -> bool:
    try:
        compile(source, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


class _Dispatch:
    """For one set of rule classes: which rule methods each node type triggers."""

    def __init__(self, rules: Sequence[type[Rule]]) -> None:
        self.rules = tuple(rules)
        # The flow collector runs first, so its results are complete when rules read them.
        self.visitors: tuple[type, ...] = ((FlowCollector,) if any(r.needs_flow for r in rules) else ()) + self.rules
        self.visit: dict[type, list[tuple[int, str]]] = {}
        self.leave: dict[type, list[tuple[int, str]]] = {}
        for index, rule in enumerate(self.visitors):
            for (kind, node_type), method in handler_methods(rule).items():
                table = self.visit if kind == "visit" else self.leave
                table.setdefault(node_type, []).append((index, method))
        self.leave_types = frozenset(TRACKED_TYPES | set(self.leave))


class Engine:
    def __init__(
        self,
        hierarchy: ClassHierarchy,
        settings: Settings | None = None,
        parse: Callable[[str], cst.Module] | None = None,
    ) -> None:
        self.hierarchy = hierarchy
        self.settings = settings  # what rules may read as ctx.settings (e.g. torch-version)
        self.parse = parse  # an editor's linter passes incremental.IncrementalParser().parse
        # Every rule code that exists (enabled or not): noqa comments naming others get a warning.
        self.known_codes: frozenset[str] = frozenset()
        self._dispatch: dict[tuple[type[Rule], ...], _Dispatch] = {}

    def _dispatch_for(self, rules: Sequence[type[Rule]]) -> _Dispatch:
        key = tuple(rules)
        dispatch = self._dispatch.get(key)
        if dispatch is None:
            dispatch = self._dispatch[key] = _Dispatch(key)
        return dispatch

    def lint(
        self,
        source: str,
        path: str,
        rules: Sequence[type[Rule]],
        module: str = "",
        is_package: bool = False,
    ) -> FileResult:
        result = FileResult(path=path)
        if self.known_codes and "noqa" in source:
            self._warn_unknown_noqa_codes(source, path, result)
        present, file_codes = file_directive(source)
        if present and file_codes is None:
            return result
        if file_codes:
            rules = [rule for rule in rules if rule.code not in file_codes]
        if not rules:
            return result
        rules = [rule for rule in rules if may_report(rule, source, module)]
        if not rules and _compiles(source, path):
            return result  # no enabled rule can report here: skip the parse (syntax errors still show)
        nesting = too_deeply_nested(source, path)
        if nesting is not None:
            message = nesting.msg if isinstance(nesting, TooDeeplyNested) else f"syntax error: {nesting.msg}"
            result.errors.append(FileError(path, message, nesting.lineno, nesting.offset, "syntax"))
            return result
        try:
            tree = self.parse(source) if self.parse is not None else parse_module(source)
        except cst.ParserSyntaxError as exc:
            result.errors.append(_syntax_error(path, source, exc))
            return result
        except RecursionError:
            result.errors.append(FileError(path, "cannot parse: nesting is too deep", kind="syntax"))
            return result
        except Exception as exc:  # a LibCST bug on this file: report it, lint the others
            result.errors.append(
                FileError(
                    path,
                    f"cannot parse: LibCST {_libcst_version()} failed on this file "
                    f"({type(exc).__name__}: {exc}); the file was not linted",
                    kind="internal",
                )
            )
            return result

        facts = collect_facts(tree, module, is_package)
        self.hierarchy.add_summary(facts.summary())
        ctx = FileContext(path, source, tree, facts, self.hierarchy, self.settings)
        try:
            self._traverse(tree, ctx, self._dispatch_for(rules), result)
            self._place(ctx, result)
        finally:
            ctx.release()  # shared analyses refer back to ctx: break the cycle so the tree dies now
        return result

    def _warn_unknown_noqa_codes(self, source: str, path: str, result: FileResult) -> None:
        """A typo in a noqa comment suppresses nothing; say so (a warning, like ruff). Only codes
        in nnlint's own namespaces count: `# noqa: F401` belongs to another linter."""
        prefixes = {code.rstrip("0123456789") for code in self.known_codes}
        for line, codes in sorted(line_suppressions(source).by_line.items()):
            for code in sorted(codes or ()):
                if code not in self.known_codes and code.rstrip("0123456789") in prefixes:
                    result.warnings.append(f"{path}:{line}: unknown rule code {code!r} in a noqa comment")
        _, file_codes = file_directive(source)
        for code in sorted(file_codes or ()):
            if code not in self.known_codes:
                result.warnings.append(f"{path}: unknown rule code {code!r} in `# nnlint: noqa`")

    def _traverse(self, tree: cst.Module, ctx: FileContext, dispatch: _Dispatch, result: FileResult) -> None:
        instances = [visitor(ctx) for visitor in dispatch.visitors]
        broken: set[int] = set()

        def bind(table: dict[type, list[tuple[int, str]]]) -> dict[type, list[tuple[int, Handler]]]:
            return {
                node_type: [(index, getattr(instances[index], method)) for index, method in entries]
                for node_type, entries in table.items()
            }

        visit, leave = bind(dispatch.visit), bind(dispatch.leave)

        def call(handlers: list[tuple[int, Handler]], node: cst.CSTNode) -> None:
            for index, handler in handlers:
                if index in broken:
                    continue
                try:
                    handler(node)
                except Exception as exc:  # one rule's bug must not stop the others
                    import traceback
                    broken.add(index)
                    rule = dispatch.visitors[index]
                    where = traceback.extract_tb(exc.__traceback__)[-1]
                    result.errors.append(
                        FileError(
                            ctx.path,
                            f"internal error in {getattr(rule, 'code', rule.__name__)} "
                            f"({getattr(rule, 'name', 'flow analysis')}): {type(exc).__name__}: {exc} "
                            f"[{where.filename}:{where.lineno}]; {BUG_HINT}",
                            kind="internal",
                        )
                    )

        def enter(node: cst.CSTNode) -> None:
            node_type = type(node)
            if node_type in TRACKED_TYPES:
                ctx.enter(node)
            handlers = visit.get(node_type)
            if handlers:
                call(handlers, node)

        def leave_node(node: cst.CSTNode) -> None:
            node_type = type(node)
            handlers = leave.get(node_type)
            if handlers:
                call(handlers, node)
            if node_type in TRACKED_TYPES:
                ctx.leave(node)

        walker.walk(tree, enter, leave_node, dispatch.leave_types)

    def _place(self, ctx: FileContext, result: FileResult) -> None:
        """Give raw findings their source ranges and drop the ones a noqa comment covers."""
        raw = ctx.raw_findings
        if not raw:
            return
        wanted = {item.node for item in raw} | {item.statement for item in raw if item.statement is not None}
        for item in raw:
            if item.fix is not None:
                wanted.update(old for old, _ in item.fix.replacements)
        try:
            ranges = node_ranges(ctx.module, wanted)
        except RecursionError:
            ranges = {}
        suppressions = line_suppressions(ctx.source)
        seen: set[tuple[str, int, int, str]] = set()
        for item in raw:
            line, column, end_line, end_column = ranges.get(item.node, (1, 1, 1, 1))
            first, last = line, end_line
            if item.statement is not None and item.statement in ranges:
                stmt = ranges[item.statement]
                first, last = min(first, stmt[0]), max(last, stmt[2])
            suppressed, _ = suppressions.suppresses(item.rule.code, first, last)
            if suppressed:
                continue
            key = (item.rule.code, line, column, item.message)
            if key in seen:
                continue
            seen.add(key)
            result.findings.append(
                Finding(
                    path=ctx.path,
                    line=line,
                    column=column,
                    end_line=end_line,
                    end_column=end_column,
                    code=item.rule.code,
                    name=item.rule.name,
                    message=item.message,
                    fix=to_text_fix(ctx.module, item.fix, ranges, ctx.source) if item.fix is not None else None,
                )
            )
        result.findings.sort(key=Finding.sort_key)
