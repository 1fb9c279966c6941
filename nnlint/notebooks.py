"""Jupyter notebooks: the code cells of an ``.ipynb`` file, linted as one module.

Cells run top to bottom in one namespace, so a class defined in one cell and used in a later one
must be seen together: the code cells are joined into one *virtual module*, linted like any file,
and every finding is mapped back to (cell, line, column). Cells are numbered 1, 2, ... by their
position in the notebook, markdown cells included, as Jupyter and VS Code show them.

IPython syntax is not Python. Line magics (``%matplotlib inline``), shell escapes (``!pip install``,
``files = !ls``) and help (``?model``, ``model??``) are masked by a placeholder line of the same
position, so line numbers stay right; a cell whose body belongs to another language (``%%bash``,
``%%writefile``) is left out. Masking and cell boundaries use placeholder comments that
:meth:`Notebook.render` recognises, so a fixed virtual module can be written back into the
notebook (``--fix``, in nnlint/fixing.py): only the ``source`` of the changed cells is rewritten;
everything else (outputs, metadata, formatting) stays byte for byte as it was.

A cell's last expression statement is displayed by Jupyter, not thrown away: rules that flag a
dropped value ask :func:`is_displayed` (found from the boundary comments in the parsed module).
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlint.findings import Edit, FileResult, Finding, Fix
from nnlint.sources import Source, SourceError, read_source, unified_diff

if TYPE_CHECKING:
    import libcst as cst

    from nnlint.context import FileContext

# Placeholder lines in the virtual module. Comments, so they never change what the code means.
CELL_BOUNDARY = "# nnlint: next cell\n"
MAGIC_PLACEHOLDER = "# nnlint: ipython"
_INDENTED_PLACEHOLDER = "pass  " + MAGIC_PLACEHOLDER  # an indented magic may be a block's only body

# Cell magics whose body is Python (timed, profiled or captured); any other cell magic switches
# the cell to another language, so the cell is not linted.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"})
_MAGIC_START = re.compile(r"[ \t]*(?:[%!?]|[A-Za-z_][\w.]*\?\??[ \t]*$)")
_ASSIGNED_MAGIC = re.compile(r"[ \t]*[A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*=[ \t]*[%!]")
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on ``\\n`` only (as Python's tokenizer counts lines)."""
    return _LINE.findall(text)


@dataclass
class _CodeCell:
    number: int  # 1-based position among all cells
    source: str  # as stored in the notebook
    lines: list[str]  # the masked lines that went into the virtual module (each ends in \n)
    masked: list[str]  # the original text of each masked line, in order


class Notebook:
    """One notebook: its raw text, its parsed JSON, and the virtual module of its code cells."""

    def __init__(self, raw: str, data: dict[str, Any], path: str = "") -> None:
        self.raw = raw
        self.data = data
        self.path = path
        self.cells: list[_CodeCell] = []
        # Virtual line (0-based index) -> (cell number, line in cell); boundaries map to None.
        self._line_map: list[tuple[int, int] | None] = []
        pieces: list[str] = []
        if _is_python(data):
            for number, cell in enumerate(data.get("cells", ()), 1):
                if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                    continue
                source = _cell_source(cell)
                masked = _mask_cell(source)
                if masked is None:
                    continue
                lines, originals = masked
                if self.cells:
                    pieces.append(CELL_BOUNDARY)
                    self._line_map.append(None)
                self.cells.append(_CodeCell(number, source, lines, originals))
                pieces.extend(lines)
                self._line_map.extend((number, index) for index in range(1, len(lines) + 1))
        self.text = "".join(pieces)

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def from_text(cls, raw: str, path: str = "") -> Notebook:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SourceError("decode", f"not a valid notebook: invalid JSON: {exc.msg}", exc.lineno) from None
        if not isinstance(data, dict):
            raise SourceError("decode", "not a valid notebook: the top level is not a JSON object")
        if "cells" not in data:
            if "worksheets" in data:
                raise SourceError(
                    "decode",
                    "nbformat 3 notebooks are not supported; convert with `jupyter nbconvert --to notebook --nbformat 4`",
                )
            raise SourceError("decode", "not a valid notebook: no `cells` list")
        if not isinstance(data["cells"], list):
            raise SourceError("decode", "not a valid notebook: `cells` is not a list")
        return cls(raw, data, path)

    @classmethod
    def read(cls, path: str) -> Notebook:
        return cls.from_text(read_source(path).text, path)

    # -- locations -------------------------------------------------------------------------

    def cell_position(self, line: int, column: int) -> tuple[int, int, int]:
        """(cell, line in cell, column) of a 1-based position in the virtual module."""
        if not self._line_map:
            return 1, line, column
        index = min(max(line, 1), len(self._line_map)) - 1
        where = self._line_map[index]
        if where is None:  # a boundary line: the end of the cell before it
            where = self._line_map[index - 1]
            assert where is not None
            return where[0], where[1] + 1, 1
        return where[0], where[1], column

    def _cell_range(self, line: int, column: int, end_line: int, end_column: int) -> tuple[int, int, int, int, int]:
        cell, start_line, start_column = self.cell_position(line, column)
        end_cell, stop_line, stop_column = self.cell_position(end_line, end_column)
        if end_cell != cell:  # a range cannot leave its cell: end it on its first line
            stop_line, stop_column = start_line, start_column + 1
        return cell, start_line, start_column, stop_line, stop_column

    def _edit_in_cells(self, edit: Edit) -> Edit:
        cell, line, column, end_line, end_column = self._cell_range(edit.line, edit.column, edit.end_line, edit.end_column)
        return Edit(line, column, end_line, end_column, edit.content, cell)

    def to_cell_locations(self, result: FileResult) -> FileResult:
        """The result of linting :attr:`text`, with every location in cell coordinates."""
        findings = []
        for finding in result.findings:
            cell, line, column, end_line, end_column = self._cell_range(
                finding.line, finding.column, finding.end_line, finding.end_column
            )
            fix = finding.fix
            if fix is not None:
                fix = Fix(fix.applicability, fix.description, tuple(self._edit_in_cells(e) for e in fix.edits))
            findings.append(
                replace(finding, line=line, column=column, end_line=end_line, end_column=end_column, fix=fix, cell=cell)
            )
        errors = []
        for error in result.errors:
            if error.line is None:
                errors.append(error)
                continue
            cell, line, column = self.cell_position(error.line, error.column or 1)
            errors.append(replace(error, line=line, column=column if error.column is not None else None, cell=cell))
        findings.sort(key=Finding.sort_key)
        return FileResult(result.path, findings, errors, list(result.warnings))

    def cell_lines(self, cell: int) -> list[str]:
        """The original lines of a cell (1-based position among all cells), without endings."""
        cells = self.data.get("cells", [])
        if not 0 < cell <= len(cells) or not isinstance(cells[cell - 1], dict):
            return []
        return [line.rstrip("\r\n") for line in split_lines(_cell_source(cells[cell - 1]))]

    def file_position(self, cell: int, line: int, column: int) -> tuple[int, int] | None:
        """Where a cell position lies in the ``.ipynb`` file itself (1-based line and column), for
        reports that point into the raw file (SARIF, GitHub annotations); None if unknown."""
        spans = self._source_spans
        if spans is None or not 0 < cell <= len(spans) or spans[cell - 1] is None:
            return None
        span = spans[cell - 1]
        assert span is not None
        lines = self.cell_lines(cell)
        if not span.items or not 0 < line <= len(lines) + 1:
            return None
        # The source may be one string or a list of strings split anywhere (usually per line).
        wanted = sum(len(text) for text in split_lines(_cell_source(self.data["cells"][cell - 1]))[: line - 1]) + column - 1
        for start, end in span.items:
            length = len(json.loads(self.raw[start:end]))
            if wanted < length or (start, end) == span.items[-1]:
                break
            wanted -= length
        offset = _raw_offset(self.raw, start, end, wanted)
        line_start = self.raw.rfind("\n", 0, offset) + 1
        return self.raw.count("\n", 0, offset) + 1, offset - line_start + 1

    # -- writing ---------------------------------------------------------------------------

    def render(self, fixed_text: str) -> str:
        """The notebook file with the code cells taken from ``fixed_text`` (an edited copy of
        :attr:`text`). Only changed cells' ``source`` values are rewritten."""
        segments: list[list[str]] = [[]]
        for line in split_lines(fixed_text):
            if line == CELL_BOUNDARY:
                segments.append([])
            else:
                segments[-1].append(line)
        if not self.cells:
            segments = []
        if len(segments) != len(self.cells):
            raise SourceError("io", f"cannot write fixes back: expected {len(self.cells)} code cells, found {len(segments)}")
        replacements: dict[int, str] = {}
        for cell, lines in zip(self.cells, segments):
            source = _unmask(cell, lines)
            if source != cell.source:
                replacements[cell.number] = source
        if not replacements:
            return self.raw
        spans = self._source_spans
        if spans is None:
            raise SourceError("io", "cannot write fixes back: cannot locate the cell sources in the file")
        style = _JsonStyle.of(self.raw)
        raw = self.raw
        for number in sorted(replacements, reverse=True):  # back to front keeps offsets valid
            span = spans[number - 1]
            assert span is not None
            raw = raw[: span.start] + span.encode(replacements[number], raw, style) + raw[span.end :]
        return raw

    @cached_property
    def _source_spans(self) -> list[_SourceSpan | None] | None:
        try:
            return _find_source_spans(self.raw)
        except (RecursionError, ValueError, IndexError):
            return None


class FilePositions:
    """Cell positions -> positions in the ``.ipynb`` files; each notebook is read once."""

    def __init__(self) -> None:
        self._notebooks: dict[str, Notebook | None] = {}

    def __call__(self, path: str, cell: int, line: int, column: int) -> tuple[int, int] | None:
        if path not in self._notebooks:
            try:
                self._notebooks[path] = Notebook.read(path)
            except SourceError:
                self._notebooks[path] = None
        notebook = self._notebooks[path]
        return None if notebook is None else notebook.file_position(cell, line, column)


class NotebookSource(Source):
    """A notebook as a Source: its code cells joined into one virtual module are what is linted;
    findings map back to (cell, line, column) and fixed code goes back into the changed cells."""

    def __init__(self, notebook: Notebook, encoding: str = "utf-8", module_path: Path | None = None) -> None:
        super().__init__(notebook.path, notebook.text, encoding, module_path)
        self.notebook = notebook

    @classmethod
    def from_text(cls, raw: str, path: str, encoding: str = "utf-8", module_path: Path | None = None) -> NotebookSource:
        """Raises SourceError when ``raw`` is not a notebook."""
        return cls(Notebook.from_text(raw, path), encoding, module_path)

    def locate(self, result: FileResult) -> FileResult:
        return self.notebook.to_cell_locations(result)

    def fixed(self, text: str) -> NotebookSource:
        return NotebookSource.from_text(self.notebook.render(text), self.path, self.encoding, self.module_path)

    def content(self) -> str:
        return self.notebook.raw

    def diff(self, after: Source) -> str:
        assert isinstance(after, NotebookSource)
        return "".join(
            unified_diff(_cell_text(self.notebook, cell.number), _cell_text(after.notebook, cell.number), f"{self.path}:cell {cell.number}")
            for cell in self.notebook.cells
        )


def _cell_text(notebook: Notebook, number: int) -> str:
    return "".join(line + "\n" for line in notebook.cell_lines(number))


def cell_source_lines(raw: str, cell: int) -> list[str]:
    """The lines of one cell of a notebook file's text (for reports that quote source)."""
    try:
        return Notebook.from_text(raw).cell_lines(cell)
    except SourceError:
        return []


# -- what Jupyter displays ----------------------------------------------------------------------


def is_notebook(ctx: FileContext) -> bool:
    """Whether the file being linted is a notebook's virtual module (files, ``--stdin-filename``
    and ``--fix`` all lint a notebook under its ``.ipynb`` path)."""
    return ctx.path.endswith(".ipynb")


def displayed_expressions(ctx: FileContext) -> frozenset[cst.Expr]:
    """The expression statements whose value Jupyter displays: the last statement of a cell, when
    it is an expression statement not ended by ``;`` (IPython's default ``last_expr``). Only
    top-level statements count: an expression inside an ``if`` or a loop at the end of a cell is
    not displayed. Empty for anything but a notebook (``# %%`` cells in a ``.py`` file display
    nothing). Computed once per file: ``ctx.shared(displayed_expressions)``."""
    if not is_notebook(ctx):
        return frozenset()
    import libcst as cst

    body = ctx.module.body
    found = []
    for index, statement in enumerate(body):
        after = body[index + 1].leading_lines if index + 1 < len(body) else ctx.module.footer
        if not isinstance(statement, cst.SimpleStatementLine) or not _ends_cell(after, index + 1 == len(body)):
            continue
        last = statement.body[-1] if statement.body else None
        if isinstance(last, cst.Expr) and not isinstance(last.semicolon, cst.Semicolon):
            found.append(last)
    return frozenset(found)


def is_displayed(ctx: FileContext, node: cst.CSTNode) -> bool:
    """Whether ``node`` (an expression statement) is a notebook cell's displayed last expression."""
    return node in ctx.shared(displayed_expressions)


def _ends_cell(lines: Sequence[cst.EmptyLine], at_end: bool) -> bool:
    """Whether the blank and comment lines after a statement close its cell: a boundary comes
    before any masked IPython line (a line magic after the statement is the cell's last)."""
    for line in lines:
        comment = line.comment.value if line.comment is not None else ""
        if comment == CELL_BOUNDARY.strip():
            return True
        if comment == MAGIC_PLACEHOLDER:
            return False
    return at_end


# -- cells -> virtual module -------------------------------------------------------------------


def _is_python(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(field), str):
            return section[field].lower() == "python"
    return True


def _cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _mask_cell(source: str) -> tuple[list[str], list[str]] | None:
    """(lines for the virtual module, original text of the masked lines), or None when the
    cell is not Python. Every returned line ends in a newline."""
    lines = split_lines(source)
    if not lines:
        return None
    first = lines[0].strip()
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if len(first) > 2 else ""
        if magic not in PYTHON_CELL_MAGICS:
            return None
    out: list[str] = []
    originals: list[str] = []
    continued = False
    indent = ""
    for line in lines:
        if continued or _is_magic_line(line, out):
            originals.append(line)
            if not continued:  # continuation lines take the indentation of the magic they continue
                indent = line[: len(line) - len(line.lstrip(" \t"))]
            out.append(f"{indent}{_INDENTED_PLACEHOLDER if indent else MAGIC_PLACEHOLDER}\n")
            continued = line.rstrip("\r\n").endswith("\\")
        else:
            out.append(line if line.endswith("\n") else line + "\n")
    return out, originals


def _is_magic_line(line: str, previous: list[str]) -> bool:
    stripped = line.lstrip(" \t")
    if stripped.startswith(("!=", "%=")):
        return False
    if not (_MAGIC_START.match(line) or _ASSIGNED_MAGIC.match(line)):
        return False
    # `%` and `!` also start continuation lines inside brackets (`x = (a\n % b)`): only a line
    # that starts a statement is IPython syntax.
    return _at_statement_start(previous)


def _at_statement_start(previous: list[str]) -> bool:
    if not previous:
        return True
    try:
        for _ in tokenize.generate_tokens(io.StringIO("".join(previous)).readline):
            pass
    except tokenize.TokenError:  # inside brackets, a string or after a backslash
        return False
    except (SyntaxError, IndentationError):
        return True
    return True


def _unmask(cell: _CodeCell, lines: list[str]) -> str:
    """The cell's source from its (possibly fixed) virtual lines: placeholders get their
    original IPython lines back, and the cell keeps its missing final newline, if it had one."""
    originals = iter(cell.masked)
    restored = []
    for line in lines:
        if line.strip() in (MAGIC_PLACEHOLDER, _INDENTED_PLACEHOLDER):
            original = next(originals, None)
            if original is None:
                raise SourceError("io", f"cannot write fixes back: cell {cell.number} has an unexpected placeholder line")
            restored.append(original)
        else:
            restored.append(line)
    if next(originals, None) is not None:
        raise SourceError("io", f"cannot write fixes back: an IPython line of cell {cell.number} was removed")
    text = "".join(restored)
    if not cell.source.endswith("\n") and text.endswith("\n"):
        text = text[:-1]
    return text


# -- positions in the raw file ---------------------------------------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(r"[-+0-9.eE]+|true|false|null")


@dataclass
class _SourceSpan:
    start: int  # offset of the value in the raw text
    end: int
    is_list: bool
    items: list[tuple[int, int]]  # raw (start, end) of each string (one item for a plain string)

    def encode(self, source: str, raw: str, style: _JsonStyle) -> str:
        if not self.is_list:
            return style.dumps(source)
        parts = [style.dumps(line) for line in split_lines(source)]
        if not parts:
            return "[]"
        # Keep the file's layout: the whitespace around the elements of the original list (a
        # changed cell had code, so the list had elements).
        opening = raw[self.start + 1 : self.items[0][0]] if self.items else ""
        closing = raw[self.items[-1][1] : self.end - 1] if self.items else ""
        return "[" + opening + ("," + opening).join(parts) + closing + "]"


@dataclass(frozen=True)
class _JsonStyle:
    ensure_ascii: bool  # whether the file escapes non-ASCII characters (Jupyter does not)

    @classmethod
    def of(cls, raw: str) -> _JsonStyle:
        return cls(raw.isascii() and "\\u" in raw)

    def dumps(self, value: str) -> str:
        return json.dumps(value, ensure_ascii=self.ensure_ascii)


def _find_source_spans(raw: str) -> list[_SourceSpan | None]:
    """Where each cell's ``source`` value lies in the raw JSON text (None for a cell without)."""
    scanner = _Scanner(raw)
    cells_at = scanner.member(scanner.skip_ws(0), "cells")
    if cells_at is None:
        raise ValueError("no cells")
    spans: list[_SourceSpan | None] = []
    for cell_start, _ in scanner.items(cells_at):
        source_at = scanner.member(cell_start, "source") if raw[cell_start] == "{" else None
        if source_at is None:
            spans.append(None)
            continue
        end = scanner.value_end(source_at)
        if raw[source_at] == "[":
            spans.append(_SourceSpan(source_at, end, True, scanner.items(source_at)))
        else:
            spans.append(_SourceSpan(source_at, end, False, [(source_at, end)]))
    return spans


class _Scanner:
    """Just enough of a JSON reader to find offsets; the text was already validated by json."""

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def skip_ws(self, pos: int) -> int:
        return _WHITESPACE.match(self.raw, pos).end()  # type: ignore[union-attr]

    def value_end(self, pos: int) -> int:
        char = self.raw[pos]
        if char == '"':
            return _STRING.match(self.raw, pos).end()  # type: ignore[union-attr]
        if char == "[":
            items = self.items(pos)
            return self.skip_ws(items[-1][1] if items else pos + 1) + 1
        if char == "{":
            pos = self.skip_ws(pos + 1)
            while self.raw[pos] != "}":
                pos = self.skip_ws(self.value_end(pos))  # the key
                pos = self.skip_ws(self.value_end(self.skip_ws(pos + 1)))  # past ":" and the value
                if self.raw[pos] == ",":
                    pos = self.skip_ws(pos + 1)
            return pos + 1
        match = _SCALAR.match(self.raw, pos)
        if match is None:
            raise ValueError(f"unexpected {char!r} at {pos}")
        return match.end()

    def items(self, pos: int) -> list[tuple[int, int]]:
        """(start, end) of each element of the array at ``pos``."""
        found = []
        pos = self.skip_ws(pos + 1)
        while self.raw[pos] != "]":
            end = self.value_end(pos)
            found.append((pos, end))
            pos = self.skip_ws(end)
            if self.raw[pos] == ",":
                pos = self.skip_ws(pos + 1)
        return found

    def member(self, pos: int, key: str) -> int | None:
        """Offset of the value of ``key`` in the object at ``pos``."""
        if self.raw[pos] != "{":
            return None
        pos = self.skip_ws(pos + 1)
        while self.raw[pos] != "}":
            key_end = self.value_end(pos)
            name = json.loads(self.raw[pos:key_end])
            value_at = self.skip_ws(self.skip_ws(key_end) + 1)
            if name == key:
                return value_at
            pos = self.skip_ws(self.value_end(value_at))
            if self.raw[pos] == ",":
                pos = self.skip_ws(pos + 1)
        return None


def _raw_offset(raw: str, start: int, end: int, decoded_offset: int) -> int:
    """Offset in ``raw`` of the character ``decoded_offset`` characters into the JSON string
    ``raw[start:end]`` (escapes count as one character; a surrogate pair as one)."""
    pos = start + 1
    remaining = decoded_offset
    while remaining > 0 and pos < end - 1:
        if raw[pos] == "\\":
            if raw[pos + 1] == "u":
                high = int(raw[pos + 2 : pos + 6], 16)
                pos += 12 if 0xD800 <= high < 0xDC00 and raw.startswith("\\u", pos + 6) else 6
            else:
                pos += 2
        else:
            pos += 1
        remaining -= 1
    return pos
