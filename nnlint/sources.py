"""Reading source files: bytes -> text the way Python itself decodes them (BOM, coding
declarations), with a one-line reason when that is impossible."""

from __future__ import annotations

import ast
import io
import itertools
import operator
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from nnlint.findings import FileError, FileResult


class SourceError(Exception):
    """The file cannot be linted; ``kind`` is "io" or "decode"."""

    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line

    def file_error(self, path: str) -> FileError:
        """The problem as what the reports show for ``path``."""
        return FileError(path, self.message, self.line, None, self.kind)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # as Python names it, e.g. "utf-8", "utf-8-sig", "iso-8859-1"


class Source:
    """Something nnlint lints -- a Python file, a notebook, stdin, an editor buffer -- as Python
    text plus the way back: linting and fixing work on :attr:`text` alone, and the source maps
    their results into its own coordinates (:meth:`locate`) and its own format (:meth:`fixed`,
    :meth:`content`). This class is the identity case, a ``.py`` file; notebooks.NotebookSource
    is the other one. workspace.source_for picks the kind for a path.
    """

    def __init__(self, path: str, text: str, encoding: str = "utf-8", module_path: Path | None = None) -> None:
        self.path = path  # the name findings carry
        self.text = text  # the Python text that is linted
        self.encoding = encoding  # of the bytes it came from, used again when writing back
        self.module_path = module_path  # where it lives (module name, import roots); None: nowhere

    def locate(self, result: FileResult) -> FileResult:
        """A result of linting :attr:`text`, in this source's coordinates."""
        return result

    def fixed(self, text: str) -> Source:
        """This source with ``text`` (an edited :attr:`text`) as its Python text."""
        return Source(self.path, text, self.encoding, self.module_path)

    def content(self) -> str:
        """The text of the source itself (what a fix writes back)."""
        return self.text

    def diff(self, after: Source) -> str:
        """A unified diff from this source to ``after``, in this source's terms."""
        return unified_diff(self.text, after.text, self.path)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, broken where Python breaks them (not at form feeds)."""
    return _LINE.findall(text)


def unified_diff(before: str, after: str, path: str) -> str:
    import difflib  # only for --diff

    lines = difflib.unified_diff(split_lines(before), split_lines(after), fromfile=path, tofile=path)
    out = []
    for line in lines:
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def decode(data: bytes) -> Decoded:
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise SourceError("decode", "contains NUL bytes (not a Python source file?)", line)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "unknown encoding" in str(exc.msg):
            raise SourceError("decode", f"bad coding declaration: {exc.msg}") from None
        encoding = "utf-8"  # a non-UTF-8 byte in the first two lines: report it as such below
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _not_decodable(data, encoding, exc) from None
    except LookupError:
        raise SourceError("decode", f"unknown encoding {encoding!r} in coding declaration") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return Decoded(text=text, encoding=encoding)


def _not_decodable(data: bytes, encoding: str, exc: UnicodeDecodeError) -> SourceError:
    line = data[: exc.start].count(b"\n") + 1
    return SourceError(
        "decode",
        f"not valid {encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
        "add a coding declaration or re-encode the file as UTF-8",
        line,
    )


def read_source(path: str) -> Decoded:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except IsADirectoryError:
        raise SourceError("io", "is a directory") from None
    except OSError as exc:
        raise SourceError("io", f"cannot read: {exc.strerror or exc}") from None
    return decode(data)


# Brackets nested deeper than this are rejected by CPython ("too many nested parentheses"), and
# LibCST's native parser can crash the process (not raise) on nesting in the thousands.
MAX_NESTING = 200
# LibCST's parse time grows with the cube of how deeply code nests without brackets (chains of
# binary operators, calls, attributes, subscripts, unary operators, conditional expressions,
# `elif`s): a 1,500-link method chain takes ~27 s, 6,000 terms of `a + a + ...` minutes, and
# ~10,000 `elif`s crash the process. CPython 3.11 accepts ~3,000 levels, 3.13 ~10,000; real code
# stays under 60 (timm, torchvision, transformers, diffusers), and LibCST parses 1,000 levels in ~3 s.
MAX_DEPTH = 1000
_LAYOUT_TABLE = bytes.maketrans(b"([{)]}\n", b"\x02\x02\x02\x00\x00\x00\x01")
_NOT_LAYOUT = bytes(set(range(256)) - set(b"()[]{}\n"))
_LONG_BRACKETED_RUN = re.compile(rb"[^\x00]{%d}" % MAX_DEPTH)


class TooDeeplyNested(SyntaxError):
    """Valid Python nested deeper than LibCST can parse in reasonable time (or at all)."""


def _may_nest_deeply(text: str) -> bool:
    """Cheap signs (C speed, no parse) that ``text`` might nest beyond MAX_NESTING brackets or
    MAX_DEPTH levels: each level takes a token, so deep code needs a long line, a long bracketed
    or backslash-continued statement, or many `elif`s. A heuristic for generated code (a term or
    link per line, or one long line), not a bound: when it fires, the AST is measured."""
    if text.count("elif") > MAX_DEPTH or text.count("\\\n") > MAX_DEPTH:
        return True
    if max(map(len, text.splitlines()), default=0) > MAX_DEPTH:
        return True
    layout = text.encode("utf-8", "surrogatepass").translate(_LAYOUT_TABLE, _NOT_LAYOUT)
    if len(layout) <= MAX_NESTING:
        return False
    # Opening brackets map to 2, closing to 0, newlines to 1: the running sum minus the position is
    # the bracket depth (brackets in strings and comments count too: an over-estimate).
    depths = list(map(operator.sub, itertools.accumulate(layout), range(1, len(layout) + 1)))
    if max(depths) > MAX_NESTING:
        return True
    inside = bytes(map(bool, depths))  # runs of 1s: statements spanning lines inside brackets
    return _LONG_BRACKETED_RUN.search(inside) is not None


def _deepest(tree: ast.AST) -> tuple[int, int]:
    """(depth, line) of the most deeply nested node, level by level (no recursion)."""
    level, depth, line = [tree], 0, 1
    while level:
        depth += 1
        line = next((node.lineno for node in level if hasattr(node, "lineno")), line)
        level = [
            child for node in level for child in ast.iter_child_nodes(node) if not isinstance(child, ast.expr_context)
        ]
    return depth, line


def too_deeply_nested(text: str, path: str) -> SyntaxError | None:
    """Why LibCST must not parse ``text``: CPython's own error when the source nests beyond what
    CPython parses, TooDeeplyNested when it is valid but nests beyond MAX_DEPTH, else None."""
    if not _may_nest_deeply(text):
        return None
    try:
        tree = compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except (RecursionError, MemoryError):
        return SyntaxError("too deeply nested to parse")
    except ValueError as exc:  # NUL bytes (Python < 3.12)
        return SyntaxError(str(exc))
    depth, line = _deepest(tree)
    if depth <= MAX_DEPTH:
        return None
    return TooDeeplyNested(
        f"cannot parse: code nested {depth:,} levels deep (a long chain of operators, calls or "
        f"`elif`s); LibCST, nnlint's parser, takes minutes or crashes beyond {MAX_DEPTH:,} levels, "
        "so the file was not linted; exclude it if it is generated",
        (path, line, None, None),
    )
