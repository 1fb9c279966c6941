"""Reading source files: bytes -> text the way Python itself decodes them (BOM, coding
declarations), with a one-line reason when that is impossible."""

from __future__ import annotations

import io
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
        raise SourceError("decode", f"bad coding declaration: {exc.msg}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(
            "decode", f"not valid {encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start}); add a coding declaration or re-encode as UTF-8", line
        ) from None
    except LookupError:
        raise SourceError("decode", f"unknown encoding {encoding!r} in coding declaration") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return Source(text=text, encoding=encoding)


def read_source(path: str) -> Source:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except IsADirectoryError:
        raise SourceError("io", "is a directory") from None
    except OSError as exc:
        raise SourceError("io", f"cannot read: {exc.strerror or exc}") from None
    return decode(data)
