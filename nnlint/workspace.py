"""What the files of a project contain, as nnlint should see them, and the Source for each path.

On the command line that is the disk. In an editor the open buffers come first: a class edited
in ``model.py`` but not saved yet is what ``train.py``'s cross-file facts must see. The linter
reads every file -- the one it lints and the ones it consults (base classes, helpers) -- through
one Workspace, so both cases share one code path.
"""

from __future__ import annotations

import os
from pathlib import Path

from nnlint.sources import Source, SourceError, decode

NOTEBOOK_SUFFIX = ".ipynb"


def read_bytes(path: str) -> bytes:
    """A file's bytes from the disk; SourceError with a one-line reason when unreadable."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except IsADirectoryError:
        raise SourceError("io", "is a directory") from None
    except OSError as exc:
        raise SourceError("io", f"cannot read: {exc.strerror or exc}") from None


def source_for(path: str, data: bytes, module_path: Path | None = None) -> Source:
    """The Source of the bytes ``data`` found under ``path``: a notebook for ``.ipynb``, Python
    otherwise. Raises SourceError when they cannot be decoded (or are not a notebook)."""
    decoded = decode(data)
    if path.endswith(NOTEBOOK_SUFFIX):
        from nnlint.notebooks import NotebookSource  # JSON and cell mapping only when needed

        return NotebookSource.from_text(decoded.text, path, decoded.encoding, module_path)
    return Source(path, decoded.text, decoded.encoding, module_path)


def _encode_buffer(text: str) -> bytes:
    import io
    import tokenize

    data = text.encode("utf-8", "surrogatepass")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return data  # an unknown encoding: decoding reports it
    if encoding in ("utf-8", "utf-8-sig"):
        return data
    try:
        return text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return data  # text the declared encoding cannot hold: decoding reports the file as it is


class Workspace:
    """Open buffers over the disk. Buffers are keyed by resolved path and hold the text of the
    file as the editor has it (a notebook's JSON, for ``.ipynb``)."""

    def __init__(self) -> None:
        self._buffers: dict[str, str] = {}

    @staticmethod
    def key(path: str | os.PathLike[str]) -> str:
        return os.path.realpath(os.fspath(path))

    def set_buffer(self, path: str | os.PathLike[str], text: str) -> None:
        self._buffers[self.key(path)] = text

    def drop_buffer(self, path: str | os.PathLike[str]) -> None:
        self._buffers.pop(self.key(path), None)

    def has_buffer(self, path: str | os.PathLike[str]) -> bool:
        return self.key(path) in self._buffers

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes as nnlint should see them: its open buffer, else the disk. A buffer is
        encoded as the file would be saved -- in the encoding its coding declaration names -- so
        that decoding it gives the buffer's text back."""
        if self._buffers:
            text = self._buffers.get(self.key(path))
            if text is not None:
                return _encode_buffer(text)
        return read_bytes(path)

    def read_text(self, path: str) -> str | None:
        """The file's decoded text, or None when it cannot be read or decoded."""
        try:
            return decode(self.read_bytes(path)).text
        except SourceError:
            return None

    def source(self, path: str, module_path: Path | None = None) -> Source:
        """The Source at ``path``; SourceError when unreadable or undecodable."""
        return source_for(path, self.read_bytes(path), module_path)
