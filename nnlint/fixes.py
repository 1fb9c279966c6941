"""Fixes as text: the edits a rule's NodeFix becomes (including the imports it needs), and applying
many fixes to one source without letting them overlap.

Positions are 1-based (line, column) pairs in code points, as LibCST counts them: lines end at
``\\n``, ``\\r\\n`` or ``\\r`` only (not at form feeds or the other characters ``str.splitlines``
breaks on).
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

from nnlint.findings import Edit, Finding, Fix
from nnlint.positions import Range
from nnlint.sources import split_lines
from nnlint.rule import NodeFix

_NEWLINE = re.compile(r"\r\n|\r|\n")
_BARE_LF = re.compile(r"(?<!\r)\n")
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__future__"}


def to_text_fix(
    module: cst.Module, fix: NodeFix, ranges: dict[cst.CSTNode, Range], source: str | None = None
) -> Fix | None:
    """The text edits for ``fix`` in ``module`` (whose text is ``source``); None when a replaced
    node cannot be placed (no fix is better than a wrong one)."""
    edits = []
    for old, new in fix.replacements:
        where = ranges.get(old)
        if where is None:
            return None
        indent = _block_indent(module, old, where, source) if source is not None else None
        if isinstance(new, str):
            content = _reindented(new, indent) if indent else new
        else:
            content = _code_in_block(module, new, indent or "")
        edits.append(Edit(*where, _in_newline_style(content, module.default_newline)))
    try:
        edits.extend(import_edits(module, fix.imports))
    except (ValueError, cst.ParserSyntaxError):
        return None  # a rule asked for something that is not an import: offer no fix
    return Fix(fix.applicability, fix.description, tuple(edits))


def _in_newline_style(text: str, newline: str) -> str:
    """Rules write ``\n``; a CRLF file must stay CRLF."""
    return _BARE_LF.sub(newline, text) if newline != "\n" and "\n" in text else text


# -- indentation of multi-line replacements --------------------------------------------------
#
# LibCST writes the lines of a bracketed expression relative to the enclosing block, so the code
# of a node generated on its own (``module.code_for_node``) has lost the block's indentation on
# every line after the first. A replacement built from it must get that indentation back.


def _block_indent(module: cst.Module, old: cst.CSTNode, where: Range, source: str) -> str | None:
    """The indentation of the block around ``old``, or None when it cannot be known (and no
    replacement line needs it)."""
    offset = _offsets_for(source)
    start, end = offset(where[0], where[1]), offset(where[2], where[3])
    if where[2] > where[0]:  # a multi-line node: compare its text with its code generated alone
        placed, alone = split_lines(source[start:end]), split_lines(module.code_for_node(old))
        if len(placed) != len(alone):
            return None
        for in_place, generated in zip(placed[1:], alone[1:]):
            in_place, generated = in_place.rstrip("\r\n"), generated.rstrip("\r\n")
            if in_place != generated:
                return in_place[: len(in_place) - len(generated)] if in_place.endswith(generated) else None
        return None
    line_start = offset(where[0], 1)
    before = source[line_start:start]
    return before if not before.strip() else None  # `old` starts its line: that line's indent


def _code_in_block(module: cst.Module, node: cst.CSTNode, indent: str) -> str:
    from libcst._nodes.internal import CodegenState

    state = CodegenState(default_indent=module.default_indent, default_newline=module.default_newline)
    if indent:
        state.indent_tokens.append(indent)
    node._codegen(state)
    return "".join(state.tokens)


def _reindented(text: str, indent: str) -> str:
    """``text`` with ``indent`` before each continuation line that lacks it, except lines inside
    a multi-line string, whose content must not change."""
    lines = split_lines(text)
    if len(lines) < 2:
        return text
    in_strings = _lines_inside_strings(text)
    if in_strings is None:
        return text
    movable = [n for n in range(1, len(lines)) if n not in in_strings and lines[n].strip()]
    if not movable or all(lines[n].startswith(indent) for n in movable):
        return text  # nothing to indent, or the rule already indented its lines
    for n in movable:
        lines[n] = indent + lines[n]
    return "".join(lines)


def _lines_inside_strings(text: str) -> set[int] | None:
    """0-based numbers of the lines that start inside a string literal; None when ``text`` does
    not tokenize (then it is left alone)."""
    inside: set[int] = set()
    opened: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            name = tokenize.tok_name[token.type]
            if name == "FSTRING_START":  # Python 3.12+: f-strings are several tokens
                opened.append(token.start[0])
            elif name == "FSTRING_END" and opened:
                inside.update(range(opened.pop(), token.end[0]))
            elif token.type == tokenize.STRING:
                inside.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        return None
    return inside


_OFFSETS_CACHE: list[tuple[str, _Offsets]] = []


def _offsets_for(source: str) -> _Offsets:
    """Line offsets of the file being converted (one file at a time, many fixes per file)."""
    if _OFFSETS_CACHE and _OFFSETS_CACHE[0][0] is source:
        return _OFFSETS_CACHE[0][1]
    offsets = _Offsets(source)
    _OFFSETS_CACHE[:] = [(source, offsets)]
    return offsets


# -- imports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Binding:
    """What one import statement binds: ``import a.b as c`` -> ("a.b", None, "c")."""

    module: str  # dotted, with leading dots for relative imports
    name: str | None  # the imported name for `from` imports
    alias: str | None


@dataclass(frozen=True)
class _ImportLine:
    """A top-level import statement of the leading import block, by line."""

    first_line: int  # where its leading blank lines and comments start
    code_line: int  # after the blank lines that separate it from the previous statement
    next_line: int  # the line after it
    starts_section: bool  # blank lines before it
    module: str
    is_from: bool

    @property
    def category(self) -> str:
        return _category(self.module)

    def sort_key(self, within_sections: bool) -> tuple[object, ...]:
        # isort/ruff default: `import x` lines before `from x import y` lines in a section;
        # force-sort-within-sections: by module name only.
        name = self.module.lower()
        return (name, self.is_from) if within_sections else (self.is_from, name)


def _category(module: str) -> str:
    top = module.lstrip(".").split(".")[0]
    if module == "__future__":
        return "future"
    if module.startswith(".") or top not in _STDLIB:
        return "other"
    return "stdlib"


def _module_name(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_module_name(node.value)}.{node.attr.value}"
    return ""


def _bindings(statement: cst.Import | cst.ImportFrom) -> list[_Binding]:
    if isinstance(statement, cst.Import):
        return [
            _Binding(_module_name(alias.name), None, _module_name(alias.asname.name) if alias.asname else None)
            for alias in statement.names
        ]
    module = "." * len(statement.relative) + _module_name(statement.module)
    if isinstance(statement.names, cst.ImportStar):
        return [_Binding(module, "*", None)]
    return [
        _Binding(module, _module_name(alias.name), _module_name(alias.asname.name) if alias.asname else None)
        for alias in statement.names
    ]


def _import_smalls(statement: cst.CSTNode) -> list[cst.Import | cst.ImportFrom] | None:
    """The imports of a simple statement line made only of imports, else None."""
    if not isinstance(statement, cst.SimpleStatementLine) or not statement.body:
        return None
    if all(isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body):
        return list(statement.body)  # type: ignore[arg-type]
    return None


def _module_bindings(module: cst.Module) -> set[_Binding]:
    """Everything the module imports at top level (also inside top-level `try` blocks, where
    optional imports live; not under `if`, which may be `if TYPE_CHECKING:`)."""
    found: set[_Binding] = set()
    pending: list[cst.CSTNode] = list(module.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    found.update(_bindings(small))
        elif isinstance(statement, cst.Try):
            pending.extend(statement.body.body)
    return found


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _blank_prefix(statement: cst.CSTNode) -> int:
    """How many comment-free blank lines precede the statement (its comments stay attached)."""
    count = 0
    for line in getattr(statement, "leading_lines", ()):
        if line.comment is not None:
            break
        count += 1
    return count


@dataclass
class _ModuleTop:
    imports: list[_ImportLine]
    docstring_next_line: int | None  # the line after the module docstring
    first_code_line: int  # where the first statement after the block starts (after blank lines);
    # the end of the file when nothing follows
    first_has_gap: bool  # that statement is preceded by blank lines
    first_is_definition: bool  # it is a def or class (PEP 8: two blank lines before it)
    at_end: bool  # nothing follows the block
    ends_with_newline: bool


def _attached_header_comments(module: cst.Module) -> int:
    """LibCST puts every comment above the first statement in the module header; the ones after
    the header's last blank line belong to that statement (nothing may be inserted between)."""
    header = module.header
    for count, line in enumerate(reversed(header)):
        if line.comment is None:
            return count
    return 0  # no blank line: a shebang, coding line or licence that must stay on top


def _module_top(module: cst.Module) -> _ModuleTop:
    line = 1 + len(module.header)  # where the current statement's leading lines start
    imports: list[_ImportLine] = []
    docstring_next = None
    for index, statement in enumerate(module.body):
        first = line - (_attached_header_comments(module) if index == 0 else 0)
        code_line = first + _blank_prefix(statement)
        smalls = _import_smalls(statement)
        if smalls is None and not (index == 0 and _is_docstring(statement)):
            definition = isinstance(statement, (cst.FunctionDef, cst.ClassDef))
            return _ModuleTop(imports, docstring_next, code_line, code_line > first, definition, False, True)
        line += len(_NEWLINE.findall(module.code_for_node(statement)))
        if smalls is None:
            docstring_next = line
            continue
        bindings = _bindings(smalls[0])
        module_name = bindings[0].module if bindings else ""
        imports.append(_ImportLine(first, code_line, line, code_line > first, module_name, isinstance(smalls[0], cst.ImportFrom)))
    return _ModuleTop(imports, docstring_next, line, False, False, True, module.has_trailing_newline)


def _sections(imports: list[_ImportLine]) -> list[list[_ImportLine]]:
    sections: list[list[_ImportLine]] = []
    for statement in imports:
        if not sections or statement.starts_section:
            sections.append([])
        sections[-1].append(statement)
    return sections


def _section_category(section: list[_ImportLine]) -> str:
    categories = {statement.category for statement in section}
    return categories.pop() if len(categories) == 1 else "mixed"


def _sorted_insert_line(section: list[_ImportLine], new: _ImportLine) -> int | None:
    """Where ``new`` goes in a section sorted the isort/ruff way (either ordering), or None when
    the section is not sorted."""
    movable = [s for s in section if s.category != "future"]  # __future__ imports stay first
    for within_sections in (False, True):
        keys = [s.sort_key(within_sections) for s in movable]
        if keys != sorted(keys):
            continue
        ours = new.sort_key(within_sections)
        for statement in movable:
            if statement.sort_key(within_sections) > ours:
                return statement.code_line if statement is section[0] else statement.first_line
        return section[-1].next_line
    return None


def _placement(top: _ModuleTop, new: _ImportLine, newline: str) -> tuple[int, str, str]:
    """(line, text before, text after) for the new import line."""
    line, before, after = _placement_in_block(top, new, newline)
    if top.at_end and not top.ends_with_newline and line == top.first_code_line:
        before = newline + before  # the file's last line has no newline to insert after
    return line, before, after


def _placement_in_block(top: _ModuleTop, new: _ImportLine, newline: str) -> tuple[int, str, str]:
    if not top.imports:
        if top.docstring_next_line is not None:
            after = "" if top.first_has_gap or top.at_end else newline
            return top.docstring_next_line, newline, after
        after = "" if top.at_end else newline * (2 if top.first_is_definition else 1)
        return top.first_code_line, "", after
    sections = _sections(top.imports)
    ordinary = [s for s in sections if _section_category(s) != "future"]
    category = new.category
    matching = [s for s in ordinary if _section_category(s) == category]
    if category == "other":
        package = new.module.lstrip(".").split(".")[0]
        same_package = [s for s in ordinary if any(i.module.lstrip(".").split(".")[0] == package for i in s)]
        matching = same_package or matching
    if not matching:
        matching = [s for s in ordinary if _section_category(s) == "mixed"]
    if matching:
        section = matching[0]
        line = _sorted_insert_line(section, new) if any(s.category == category for s in section) else None
        return (section[-1].next_line if line is None else line), "", ""
    if not ordinary:  # only `from __future__` imports: a new section after them
        return top.imports[-1].next_line, newline, ""
    if len(sections) == 1:  # one section of another kind: no evidence of sectioning, so append
        return ordinary[0][-1].next_line, "", ""
    if category == "stdlib":  # a new section before the others
        return ordinary[0][0].code_line, "", newline
    stdlib = [s for s in ordinary if _section_category(s) == "stdlib"]
    anchor = stdlib[-1] if stdlib else ordinary[-1]
    return anchor[-1].next_line, newline, ""


def import_edits(module: cst.Module, imports: Sequence[str]) -> list[Edit]:
    """Edits adding the ``imports`` (one statement each, e.g. ``"import copy"``) that the module
    does not already have: into the leading import block, in the section and sorted position the
    file's own style gives (appended when the block is not sorted), after any docstring and
    ``__future__`` imports. Imports that land on the same line become one edit."""
    if not imports:
        return []
    existing = _module_bindings(module)
    top: _ModuleTop | None = None
    newline = module.default_newline
    by_line: dict[int, list[str]] = {}
    for text in dict.fromkeys(imports):
        statement = cst.parse_statement(text)
        smalls = _import_smalls(statement)
        if not smalls or len(smalls) != 1:
            raise ValueError(f"fix import {text!r} is not one import statement")
        wanted = _bindings(smalls[0])
        missing = [b for b in wanted if b not in existing]
        if not missing:
            continue
        if len(missing) < len(wanted):  # `from m import a, b` with `a` already imported
            names = ", ".join(b.name if b.alias is None else f"{b.name} as {b.alias}" for b in missing)  # type: ignore[misc]
            text = f"from {missing[0].module} import {names}"
        existing.update(missing)
        if top is None:
            top = _module_top(module)
        new = _ImportLine(0, 0, 0, False, missing[0].module, isinstance(smalls[0], cst.ImportFrom))
        line, before, after = _placement(top, new, newline)
        by_line.setdefault(line, []).append(f"{before}{text.strip()}{newline}{after}")
    return [Edit(line, 1, line, 1, "".join(parts)) for line, parts in sorted(by_line.items())]


# -- applying ----------------------------------------------------------------------------------


class _Offsets:
    """(line, column) -> offset into the text."""

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self.starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]

    def __call__(self, line: int, column: int) -> int:
        if line > len(self.starts):
            return self.length
        return min(self.starts[line - 1] + column - 1, self.length)


def apply_edits(source: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits to ``source``."""
    offset = _Offsets(source)
    spans = sorted(
        ((offset(e.line, e.column), offset(e.end_line, e.end_column), e.content) for e in edits),
        key=lambda span: (span[0], span[1]),
    )
    return _splice(source, spans)


def _splice(source: str, spans: Sequence[tuple[int, int, str]]) -> str:
    parts, position = [], 0
    for start, end, content in spans:
        parts.append(source[position:start])
        parts.append(content)
        position = end
    parts.append(source[position:])
    return "".join(parts)


def _conflict(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    """Whether two edits cannot both be applied with one obvious result."""
    (a_start, a_end, _), (b_start, b_end, _) = a, b
    if max(a_start, b_start) < min(a_end, b_end):
        return True  # overlapping ranges
    if a_start == a_end == b_start == b_end:
        return True  # two insertions at one place: which goes first?
    # An insertion strictly inside a replaced range.
    return (a_start == a_end and b_start < a_start < b_end) or (b_start == b_end and a_start < b_start < a_end)


@dataclass
class Applied:
    text: str
    applied: list[Finding]  # findings whose fix went in
    deferred: list[Finding]  # fixes that overlapped an earlier one: for the next round


def apply_fixes(source: str, findings: Sequence[Finding]) -> Applied:
    """Apply the fixes of ``findings`` together. A fix goes in whole or not at all. In order of
    position (then rule code), a fix whose edits overlap an accepted fix is deferred to the next
    round; an edit identical to an accepted one (two fixes adding the same import) is shared."""
    offset = _Offsets(source)
    candidates = []
    for finding in findings:
        if finding.fix is None or not finding.fix.edits:
            continue
        spans = [(offset(e.line, e.column), offset(e.end_line, e.end_column), e.content) for e in finding.fix.edits]
        order = (min(s[0] for s in spans), max(s[1] for s in spans), finding.code, finding.line, finding.column, finding.fix.description)
        candidates.append((order, finding, spans))
    candidates.sort(key=lambda item: item[0])
    accepted: list[tuple[int, int, str]] = []
    accepted_set: set[tuple[int, int, str]] = set()
    applied, deferred = [], []
    for _, finding, spans in candidates:
        new = [span for span in dict.fromkeys(spans) if span not in accepted_set]
        if any(_conflict(a, b) for i, a in enumerate(new) for b in accepted + new[:i]):
            deferred.append(finding)
            continue
        accepted.extend(new)
        accepted_set.update(new)
        applied.append(finding)
    accepted.sort(key=lambda span: (span[0], span[1]))
    return Applied(_splice(source, accepted), applied, deferred)
