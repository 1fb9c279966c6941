"""What NN801 (removed), NN802 (deprecated) and NN805 (non-public) share: finding uses and imports
of the symbols of the deprecation table, and rewriting them as the table says."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from nnlint.names import dotted_name
from nnlint.rule import NodeFix, Rule
from nnlint.rules.legacy._table import ApiEntry, table, torch_version

# Exceptions whose handler is the usual fallback for an older or newer torch.
_COMPAT_EXCEPTIONS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})
_VERSION_WORDS = ("version", "hasattr", "TORCH_", "is_torch_", "_TORCH")
# Expressions that need no parentheses as the left operand of `+`.
_TIGHT = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)


def _spells_version_word(test: cst.BaseExpression) -> bool:
    """Whether a name, attribute or string in an `if` test spells one of _VERSION_WORDS. Read
    from the nodes (generating the test's code for every `if` was a fifth of an editor lint), the
    usual expression kinds by hand (LibCST's generic ``children`` is slow)."""
    todo: list[cst.CSTNode] = [test]
    while todo:
        node = todo.pop()
        if isinstance(node, (cst.Name, cst.SimpleString)):
            if any(word in node.value for word in _VERSION_WORDS):
                return True
        elif isinstance(node, cst.Attribute):
            todo += (node.value, node.attr)
        elif isinstance(node, cst.Call):
            todo.append(node.func)
            todo += (arg.value for arg in node.args)
        elif isinstance(node, cst.Comparison):
            todo.append(node.left)
            todo += (target.comparator for target in node.comparisons)
        elif isinstance(node, cst.BooleanOperation):
            todo += (node.left, node.right)
        elif isinstance(node, cst.UnaryOperation):
            todo.append(node.expression)
        elif not isinstance(node, (cst.Integer, cst.Float)):
            todo.extend(node.children)
    return False


class _Compatibility:
    """Per file, shared by the NN8xx rules (``ctx.shared``): which `if` tests look at versions or
    feature presence, and which values are the old-API fallback of such a switch."""

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        # No version word anywhere in the file: no test can spell one (most files).
        self._possible = any(word in ctx.source for word in _VERSION_WORDS)
        self._tests: dict[int, bool] = {}
        self._blocks: dict[int, frozenset[int]] = {}

    def version_test(self, test: cst.BaseExpression) -> bool:
        if not self._possible:
            return False
        found = self._tests.get(id(test))
        if found is None:
            found = self._tests[id(test)] = _spells_version_word(test)
        return found

    def fallbacks(self, body: Sequence[cst.BaseStatement]) -> frozenset[int]:
        """The values of `name = <expr>` statements directly followed by an `if` that tests
        versions and assigns `name` again: the old API kept as the fallback.

            weight_norm = nn.utils.weight_norm
            if hasattr(nn.utils.parametrizations, "weight_norm"):
                weight_norm = nn.utils.parametrizations.weight_norm
        """
        if not self._possible:
            return frozenset()
        found = self._blocks.get(id(body))
        if found is None:
            found = self._blocks[id(body)] = frozenset(self._find_fallbacks(body))
        return found

    def _find_fallbacks(self, body: Sequence[cst.BaseStatement]) -> Iterator[int]:
        for first, second in zip(body, body[1:]):
            if not isinstance(second, cst.If) or not isinstance(first, cst.SimpleStatementLine) or len(first.body) != 1:
                continue
            assign = first.body[0]
            if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
                continue
            target = assign.targets[0].target
            if isinstance(target, cst.Name) and self.version_test(second.test) and _assigns(second.body, target.value):
                yield id(assign.value)


def _assigns(block: cst.BaseSuite, name: str) -> bool:
    statements = block.body if isinstance(block, cst.IndentedBlock) else [block]
    for statement in statements:
        small = statement.body if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else ()
        for item in small:
            if isinstance(item, cst.Assign) and any(
                isinstance(t.target, cst.Name) and t.target.value == name for t in item.targets
            ):
                return True
    return False


def triggers_for(statuses: tuple[str, ...]) -> tuple[str, ...]:
    """Every table name of these statuses is spelled in a file that uses it: its last segment."""
    return tuple(sorted({e.name.rpartition(".")[2] for e in table().apis.values() if e.status in statuses}))


@dataclass
class _ImportUse:
    node: cst.ImportFrom
    aliases: list[tuple[cst.ImportAlias, ApiEntry]]


def written_name(ctx, expr: cst.BaseExpression | None, new: str) -> tuple[str, tuple[str, ...]]:  # type: ignore[no-untyped-def]
    """How to spell qualified name ``new`` where ``expr`` was written: reusing the longest prefix
    of ``expr`` that is an imported name of a prefix of ``new`` (``foo.chain_matmul`` with
    ``import torch as foo`` -> ``foo.linalg.multi_dot``), else in full with the import it needs."""
    dotted = dotted_name(expr) if expr is not None else None
    if dotted:
        parts = dotted.split(".")
        if parts[0] in ctx.facts.aliases:
            for k in range(len(parts) - 1, 0, -1):
                prefix = ".".join(parts[:k])
                resolved = ctx.facts.resolve(prefix)
                if resolved == new:
                    return prefix, ()
                if new.startswith(resolved + "."):
                    return prefix + new[len(resolved):], ()
    top = new.partition(".")[0]
    return new, (f"import {top}",)


def _literal_int(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        try:
            return int(node.value, 0)
        except ValueError:
            return None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _literal_int(node.expression)
        return None if inner is None else -inner
    return None


def _expr(text: str) -> cst.BaseExpression:
    return cst.parse_expression(text)


def _arg(text: str) -> cst.Arg:
    """``'"cuda"'`` or ``'mode="nearest"'`` as an argument node."""
    call = cst.parse_expression(f"f({text})")
    assert isinstance(call, cst.Call)
    return call.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)


def _bare(arg: cst.Arg) -> cst.Arg:
    return arg.with_changes(comma=cst.MaybeSentinel.DEFAULT)


def rewrite_call(ctx, call: cst.Call, entry: ApiEntry, callee: str) -> cst.BaseExpression | None:  # type: ignore[no-untyped-def]
    """``call`` rewritten for the replacement spelled ``callee``, as the table's mapping says; None
    where the mapping does not cover this call."""
    if entry.fix == "none":
        return None
    args = list(call.args)
    if any(a.star for a in args):
        return None if entry.rewrites_arguments else call.with_changes(func=_expr(callee))
    positional = [a for a in args if a.keyword is None]
    keywords = [a for a in args if a.keyword is not None]
    if len(positional) < entry.min_positional:
        return None
    if entry.max_positional is not None and len(positional) > entry.max_positional:
        return None
    if entry.transform == "range-to-arange":
        new_args = _range_to_arange(entry, positional, keywords)
        if new_args is None:
            return None
        return call.with_changes(func=_expr(callee), args=new_args)
    if entry.transform:
        return None
    suffix = ""
    new_args: list[cst.Arg] = [_arg(text) for text in entry.prepend]
    if entry.pack:
        elements = [cst.Element(value=a.value) for a in positional]
        new_args.append(cst.Arg(value=cst.List(elements=elements)))
    else:
        if entry.params and len(positional) > len(entry.params):
            return None
        kept_positional = True
        for index, arg in enumerate(positional):
            param = entry.params[index] if entry.params else None
            action = _action(ctx, entry, param, arg)
            if action is False:
                return None
            if action is None:
                if not kept_positional:
                    return None  # a later positional argument would shift
                new_args.append(arg)
                continue
            kept_positional = False
            if action.suffix:
                suffix += action.suffix
            if action.keyword:
                new_args.append(_arg(f"{action.keyword}={action.value}"))
    for arg in keywords:
        action = _action(ctx, entry, arg.keyword.value, arg)  # type: ignore[union-attr]
        if action is False:
            return None
        if action is None:
            new_args.append(arg)
            continue
        if action.suffix:
            suffix += action.suffix
        if action.keyword:
            new_args.append(_arg(f"{action.keyword}={action.value}"))
    if suffix and any(a.keyword is not None and a.keyword.value == "out" for a in keywords):
        return None  # `out=` would receive the result before the suffix
    new_args.extend(_arg(text) for text in entry.append)
    new_args = _with_commas(new_args, call.args[-1] if call.args else None)
    result: cst.BaseExpression = call.with_changes(func=_expr(callee), args=new_args)
    if suffix:
        result = _expr(f"({ctx.module.code_for_node(result)}){suffix}")
        if isinstance(result, cst.Attribute) and isinstance(result.value, cst.Call) and result.value.lpar:
            result = result.with_changes(value=result.value.with_changes(lpar=[], rpar=[]))
    return result


def _with_commas(args: list[cst.Arg], original_last: cst.Arg | None) -> list[cst.Arg]:
    """Every argument but the last keeps (or gets) a comma; the last keeps a trailing one only if
    it was the last argument before."""
    out = []
    for index, arg in enumerate(args):
        if index < len(args) - 1:
            if not isinstance(arg.comma, cst.Comma):
                arg = arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        elif arg is not original_last:
            arg = arg.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        out.append(arg)
    return out


def _action(ctx, entry: ApiEntry, param: str | None, arg: cst.Arg):  # type: ignore[no-untyped-def]
    """None: keep the argument; False: no fix; an ArgAction: what it becomes."""
    if param is None or param not in entry.arguments:
        return None
    value = ctx.module.code_for_node(arg.value).strip()
    return entry.arguments[param].get(value, False)


def _range_to_arange(entry: ApiEntry, positional: list[cst.Arg], keywords: list[cst.Arg]) -> list[cst.Arg] | None:
    """``torch.range(start, end, step)`` includes ``end``; ``torch.arange`` needs ``end + step``."""
    bound: dict[str, cst.Arg] = {}
    for index, arg in enumerate(positional):
        if index >= len(entry.params):
            return None
        bound[entry.params[index]] = arg
    for arg in keywords:
        bound[arg.keyword.value] = arg  # type: ignore[union-attr]
    if "end" not in bound or "start" not in bound:
        return None
    step = 1
    if "step" in bound:
        literal = _literal_int(bound["step"].value)
        if literal is None or literal == 0:
            return None
        step = literal
    end = bound["end"].value
    end_literal = _literal_int(end)
    if end_literal is not None:
        new_end: cst.BaseExpression = _expr(str(end_literal + step))
    elif step != 1:
        return None
    elif (
        isinstance(end, cst.BinaryOperation)
        and isinstance(end.operator, cst.Subtract)
        and _literal_int(end.right) == 1
        and not end.lpar
    ):
        new_end = end.left
    else:
        left = end if isinstance(end, (*_TIGHT, cst.BinaryOperation)) and not (
            isinstance(end, cst.BinaryOperation)
            and not isinstance(end.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power, cst.MatrixMultiply))
        ) else end.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        new_end = cst.BinaryOperation(left=left, operator=cst.Add(), right=cst.Integer("1"))
    end_arg = bound["end"]
    return [a.with_changes(value=new_end) if a is end_arg else a for a in [*positional, *keywords]]


class SymbolRule(Rule):
    """Uses (calls, references, decorators) and imports of table symbols of ``statuses``."""

    statuses: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._table = table()
        self._version = torch_version(ctx)
        self._handled: set[int] = set()
        self._imports: list[_ImportUse] = []
        self._name_calls: dict[str, list[tuple[cst.Call, ApiEntry]]] = {}
        self._compat = 0  # enclosing version-compatibility blocks
        # `f = old.api` right before `if <version test>: f = new.api`: the fallback of a
        # compatibility switch (id of the assigned value), found when its block is entered.
        self._fallbacks: set[int] = set()
        self._bindings: dict[str, set[str]] = {}  # local name -> what each `from` import binds it to

    # -- which symbols ----------------------------------------------------------------------

    def _entry(self, qualname: str | None) -> ApiEntry | None:
        if qualname is None:
            return None
        entry = self._table.apis.get(qualname)
        if entry is None or entry.status not in self.statuses:
            return None
        if entry.status == "deprecated" and not entry.deprecated_at(self._version):
            return None
        return entry

    # -- version-compatibility code stays silent ----------------------------------------------

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if _catches_compat(node):
            self._compat += 1

    def leave_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if _catches_compat(node):
            self._compat -= 1

    def visit_Module(self, node: cst.Module) -> None:
        self._fallbacks |= self.ctx.shared(_Compatibility).fallbacks(node.body)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._fallbacks |= self.ctx.shared(_Compatibility).fallbacks(node.body)

    def visit_If(self, node: cst.If) -> None:
        if self.ctx.shared(_Compatibility).version_test(node.test):
            self._compat += 1

    def leave_If(self, node: cst.If) -> None:
        if self.ctx.shared(_Compatibility).version_test(node.test):
            self._compat -= 1

    # -- uses ---------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value not in self._table.last_segments:
                return
            entry = self._entry(self.ctx.qualified_name(func))
            if entry is None:
                return
            self._handled.add(id(func))
            if self._compat:
                return
            callee, imports = written_name(self.ctx, func, entry.replacement) if entry.replacement else ("", ())
            new = rewrite_call(self.ctx, node, entry, callee) if callee else None
            self._report_use(node, entry, new, imports)
        elif isinstance(func, cst.Name):
            qualname = self.ctx.qualified_name(func)
            if qualname == func.value:
                return
            entry = self._entry(qualname)
            if entry is None:
                return
            self._handled.add(id(func))
            if not self._compat:
                self._name_calls.setdefault(func.value, []).append((node, entry))

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self._reference(node.decorator)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if id(node) not in self._handled and node.attr.value in self._table.last_segments:
            self._reference(node)

    def _reference(self, expr: cst.BaseExpression) -> None:
        """A symbol named without being called (a decorator, an alias, an argument)."""
        if id(expr) in self._handled or not isinstance(expr, (cst.Attribute, cst.Name)):
            return
        entry = self._entry(self.ctx.qualified_name(expr))
        if entry is None or (isinstance(expr, cst.Name) and self.ctx.qualified_name(expr) == expr.value):
            return
        self._handled.add(id(expr))
        if self._compat or isinstance(expr, cst.Name) or id(expr) in self._fallbacks:
            return  # compatibility code, or a from-imported name (its import is reported)
        new: cst.BaseExpression | None = None
        imports: tuple[str, ...] = ()
        if entry.fix != "none" and entry.replacement:
            written, imports = written_name(self.ctx, expr, entry.replacement)
            if entry.bare:
                new = _expr(entry.bare.replace("{new}", written))
            elif not entry.rewrites_arguments:
                new = _expr(written)
        self._report_use(expr, entry, new, imports, called=False)

    def _report_use(self, node: cst.CSTNode, entry: ApiEntry, new: cst.BaseExpression | None,
                    imports: tuple[str, ...], called: bool = True) -> None:
        fix = NodeFix(f"use `{entry.replacement}`", entry.fix, ((node, new),), imports) if new is not None else None
        self.report(node, self.use_message(entry, called), fix)

    # -- imports ------------------------------------------------------------------------------

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = dotted_name(node.module)
        if module is None:
            return
        found = []
        for alias in node.names:
            if isinstance(alias.name, cst.Name):
                local = alias.asname.name if alias.asname is not None else alias.name
                if isinstance(local, cst.Name):
                    self._bindings.setdefault(local.value, set()).add(f"{module}.{alias.name.value}")
                entry = self._entry(f"{module}.{alias.name.value}")
                if entry is not None:
                    found.append((alias, entry))
        if found and not self._compat:
            self._imports.append(_ImportUse(node, found))

    def leave_Module(self, node: cst.Module) -> None:
        fixed_locals: dict[str, str] = {}  # local name -> its new name, for imports that get fixed
        for use in self._imports:
            fix = self._import_fix(use)
            for index, (alias, entry) in enumerate(use.aliases):
                # The statement's fix rides on its first finding.
                self.report(alias, self.import_message(entry, alias), fix[0] if fix and index == 0 else None)
            if fix is not None:
                fixed_locals.update(fix[1])
        for local, calls in self._name_calls.items():
            if len(self._bindings.get(local, ())) > 1:
                continue  # `try: from torch.amp import X / except ImportError: from torch.cuda.amp import X`
            for call, entry in calls:
                new, imports = self._name_call_fix(local, call, entry, fixed_locals)
                self._report_use(call, entry, new, imports)

    def _import_fix(self, use: _ImportUse) -> tuple[NodeFix, dict[str, str]] | None:
        """The import rewritten to the replacements' module, when every name it imports has a
        replacement there and every use of a name whose spelling or call changes is a call this
        rule rewrites."""
        node = use.node
        names = node.names
        assert not isinstance(names, cst.ImportStar)
        if len(use.aliases) != len(names):
            return None
        modules = {entry.replacement.rpartition(".")[0] for _, entry in use.aliases}
        if len(modules) != 1 or "" in modules or any(e.fix == "none" or not e.replacement for _, e in use.aliases):
            return None
        renamed: dict[str, str] = {}
        new_aliases = []
        for alias, entry in use.aliases:
            old = alias.name.value  # type: ignore[union-attr]
            new_last = entry.replacement.rpartition(".")[2]
            local = alias.asname.name.value if alias.asname is not None else old  # type: ignore[union-attr]
            changes_name = alias.asname is None and new_last != old
            if changes_name and re.search(rf"(?<![\w.]){re.escape(new_last)}\b", self.ctx.source):
                return None  # the new name is taken (`outer = ger(a, b)` must not become `outer(a, b)`)
            if changes_name or entry.rewrites_arguments:
                callee = new_last if changes_name else local
                if not self._only_called(local) or any(
                    rewrite_call(self.ctx, call, e, callee) is None for call, e in self._name_calls.get(local, ())
                ):
                    return None
                renamed[local] = callee
            new_aliases.append(alias.with_changes(name=cst.Name(new_last)))
        new_node = node.with_changes(module=_expr(modules.pop()), names=new_aliases)
        applicability = "unsafe" if any(e.fix == "unsafe" for _, e in use.aliases) else "safe"
        replacements = ", ".join(f"`{e.replacement}`" for _, e in use.aliases)
        return NodeFix(f"import {replacements}", applicability, ((node, new_node),)), renamed

    def _only_called(self, local: str) -> bool:
        """Every mention of ``local`` in the file but its import is a call of it."""
        source = self.ctx.source
        total = len(re.findall(rf"(?<![\w.]){re.escape(local)}\b", source))
        calls = len(re.findall(rf"(?<![\w.]){re.escape(local)}\s*\(", source))
        return total - calls == 1 and len(self._name_calls.get(local, ())) == calls

    def _name_call_fix(self, local: str, call: cst.Call, entry: ApiEntry,
                       fixed_locals: dict[str, str]) -> tuple[cst.BaseExpression | None, tuple[str, ...]]:
        if local in fixed_locals:
            return rewrite_call(self.ctx, call, entry, fixed_locals[local]), ()
        if not entry.replacement or (
            entry.replacement.rpartition(".")[2] == local and not entry.rewrites_arguments
        ):
            return None, ()  # the import's fix is all it takes
        callee, imports = written_name(self.ctx, None, entry.replacement)
        return rewrite_call(self.ctx, call, entry, callee), imports

    # -- messages -------------------------------------------------------------------------------

    def instead(self, entry: ApiEntry) -> str:
        if entry.advice:
            return entry.advice
        if not entry.replacement:
            return "stop using it"
        pattern, notes = usage(entry)
        return f"use `{pattern}`" + (f" ({'; '.join(notes)})" if notes else "")

    def use_message(self, entry: ApiEntry, called: bool) -> str:
        return f"`{entry.name}` is {entry.since()}{self.consequence(entry)}; {self.instead(entry)}"

    def import_message(self, entry: ApiEntry, alias: cst.ImportAlias) -> str:
        return f"import of `{entry.name}`, which is {entry.since()}{self.consequence(entry)}; {self.instead(entry)}"

    def consequence(self, entry: ApiEntry) -> str:
        if entry.status == "removed":
            return " (calling it raises)"
        return ""


def usage(entry: ApiEntry) -> tuple[str, list[str]]:
    """The replacement as a call pattern (``torch.amp.autocast("cuda", ...)``) and notes on how
    arguments change."""
    if not (entry.prepend or entry.append or entry.pack or entry.arguments):
        return entry.replacement, []
    inner = [*entry.prepend, "[...]" if entry.pack else "...", *entry.append]
    text = f"{entry.replacement}({', '.join(inner)})"
    notes = []
    for param, values in entry.arguments.items():
        for value, action in values.items():
            if action.keyword:
                notes.append(f"`{param}={value}` becomes `{action.keyword}={action.value}`")
            elif action.suffix:
                notes.append(f"`{param}={value}` becomes `{action.suffix}` on the result")
            else:
                notes.append(f"`{param}={value}` is dropped")
    return text, notes


def _catches_compat(handler: cst.ExceptHandler) -> bool:
    caught = handler.type
    if caught is None:
        return True  # a bare `except:` around an import is the same fallback
    names = [el.value for el in caught.elements] if isinstance(caught, cst.Tuple) else [caught]
    return any(dotted_name(name) in _COMPAT_EXCEPTIONS or dotted_name(name) == "Exception" for name in names)
