"""Reading source files: bytes -> text the way Python itself decodes them (BOM, coding
declarations), with a one-line reason when that is impossible."""

from __future__ import annotations

import ast
import io
import itertools
import operator
import tokenize
from dataclasses import dataclass


class SourceError(Exception):
    """The file cannot be linted; ``kind`` is "io" or "decode"."""

    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Source:
    text: str
    encoding: str  # as Python names it, e.g. "utf-8", "utf-8-sig", "iso-8859-1"


def decode(data: bytes) -> Source:
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
    return Source(text=text, encoding=encoding)


def _not_decodable(data: bytes, encoding: str, exc: UnicodeDecodeError) -> SourceError:
    line = data[: exc.start].count(b"\n") + 1
    return SourceError(
        "decode",
        f"not valid {encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
        "add a coding declaration or re-encode the file as UTF-8",
        line,
    )


def read_source(path: str) -> Source:
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
_BRACKET_TABLE = bytes.maketrans(b"([{)]}", b"\x02\x02\x02\x00\x00\x00")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"()[]{}"))


def bracket_depth_estimate(text: str) -> int:
    """An upper-bound-ish estimate of bracket nesting (brackets in strings and comments count
    too), computed at C speed: opening brackets map to 2, closing to 0, so the running sum minus
    the position is the depth."""
    brackets = text.encode("utf-8", "surrogatepass").translate(_BRACKET_TABLE, _NOT_BRACKETS)
    if len(brackets) <= MAX_NESTING:
        return len(brackets)
    return max(map(operator.sub, itertools.accumulate(brackets), range(1, len(brackets) + 1)))


def too_deeply_nested(text: str, path: str) -> SyntaxError | None:
    """CPython's own error when the source nests brackets beyond what it (and LibCST) can parse."""
    if bracket_depth_estimate(text) <= MAX_NESTING:
        return None
    try:
        compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except (RecursionError, MemoryError):
        return SyntaxError("too deeply nested to parse")
    return None
