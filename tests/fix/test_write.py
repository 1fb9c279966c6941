"""Writing a fixed file: atomic (the original or the new content, nothing in between), no
temporary file left behind whatever happens, and refusal when the file changed meanwhile."""

from __future__ import annotations

import os
import tempfile

import pytest

from nnlint import fixing
from nnlint.fixing import write_atomically


def _stamp(path):
    info = path.stat()
    return (info.st_mtime_ns, info.st_size)


def test_the_new_content_replaces_the_old(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"old\n")
    assert write_atomically(str(path), b"new\n", _stamp(path)) is None
    assert path.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["m.py"]


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"old\n")
    stamp = _stamp(path)
    path.write_bytes(b"edited meanwhile\n")
    assert "changed on disk" in write_atomically(str(path), b"new\n", stamp)
    assert path.read_bytes() == b"edited meanwhile\n"


def test_a_directory_that_refuses_the_temporary_file_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_bytes(b"old\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert write_atomically(str(path), b"new\n") == "cannot write: Permission denied"
    assert path.read_bytes() == b"old\n"


def test_a_failed_replace_leaves_the_original_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_bytes(b"old\n")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixing.os, "replace", fail)
    assert write_atomically(str(path), b"new\n") == "cannot write: No space left on device"
    assert path.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["m.py"]


def test_an_interrupt_during_the_write_cleans_up_and_propagates(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_bytes(b"old\n")

    def interrupt(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(fixing.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(str(path), b"new\n")
    assert path.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["m.py"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_read_only_file_is_not_replaced(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"old\n")
    path.chmod(0o444)
    assert write_atomically(str(path), b"new\n") == "is read-only; not written"
    assert path.read_bytes() == b"old\n"
