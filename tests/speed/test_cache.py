"""The results cache: hits, every kind of miss, cross-file invalidation, and a broken cache that
never breaks a run."""

from __future__ import annotations

import json
from pathlib import Path

from nnlint.cache import CACHEDIR_TAG, decode_result, default_cache_dir, encode_result
from nnlint.findings import Edit, FileError, FileResult, Finding, Fix

from .conftest import codes, write

MISSING_SUPER = """\
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            self.x = 1
    """
WRONG_SUPER = """\
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super(Other, self).__init__()
    """


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*.json"))


def test_unchanged_files_are_answered_from_the_cache(runner, tmp_path):
    files = [write(tmp_path / "a.py", MISSING_SUPER), write(tmp_path / "b.py", "x = 1\n")]
    first = runner(files)
    assert runner.linted == ["a.py", "b.py"]
    second = runner(files)
    assert runner.linted == []
    assert second == first
    assert codes(second) == [("a.py", "NN102", 4)]
    assert runner.warnings == []


def test_findings_with_fixes_round_trip_through_the_cache(runner, tmp_path):
    files = [write(tmp_path / "net.py", WRONG_SUPER)]
    first = runner(files)
    fix = first[0].findings[0].fix
    assert fix is not None and fix.edits
    second = runner(files)
    assert runner.linted == []
    assert second == first  # Finding, Fix and Edit compare by value


def test_results_round_trip_through_json():
    result = FileResult(
        "x.py",
        findings=[
            Finding("x.py", 3, 5, 3, 9, "NN101", "super-wrong-class", "use `super()`",
                    Fix("safe", "call super()", (Edit(3, 5, 3, 9, "super()"), Edit(1, 1, 1, 1, "import copy\n")))),
            Finding("x.py", 7, 1, 8, 2, "NN102", "missing-super-init", "ünïcode message", None),
        ],
        errors=[FileError("x.py", "internal error in NN999", None, None, "internal")],
        warnings=["unknown code in noqa"],
    )
    data = json.loads(json.dumps(encode_result(result)))
    assert decode_result(data, "x.py") == result
    assert decode_result(data, "elsewhere/x.py").findings[0].path == "elsewhere/x.py"


def test_a_changed_file_is_linted_again(runner, tmp_path):
    net = write(tmp_path / "net.py", MISSING_SUPER)
    other = write(tmp_path / "other.py", "x = 1\n")
    runner([net, other])
    net.write_text(net.read_text().replace("self.x = 1", "super().__init__()\n        self.x = 1"))
    results = runner([net, other])
    assert runner.linted == ["net.py"]
    assert codes(results) == []


def test_other_settings_or_rules_do_not_reuse_results(runner, tmp_path):
    files = [write(tmp_path / "net.py", MISSING_SUPER)]
    runner(files)
    assert codes(runner(files, select=["NN101"])) == []
    assert runner.linted == ["net.py"]
    assert codes(runner(files, extend_module_bases=("x.Base",))) == [("net.py", "NN102", 4)]
    assert runner.linted == ["net.py"]
    assert codes(runner(files, per_file_ignores=(("net.py", ("NN102",)),))) == []
    assert runner.linted == ["net.py"]
    runner(files)  # the first settings again: their results are still there
    assert runner.linted == []


def test_another_nnlint_version_or_build_does_not_reuse_results(runner, tmp_path, monkeypatch):
    files = [write(tmp_path / "net.py", MISSING_SUPER)]
    runner(files)
    monkeypatch.setattr("nnlint.cache.__version__", "999.0")
    runner(files)
    assert runner.linted == ["net.py"]
    monkeypatch.setattr("nnlint.cache.code_fingerprint", lambda: "edited")
    runner(files)
    assert runner.linted == ["net.py"]


BASE_MODULE = """\
    import torch.nn as nn

    class Base(nn.Module):
        pass
    """
SUBCLASS = """\
    from .base import Base

    class Net(Base):
        def __init__(self):
            self.x = 1
    """


def test_a_result_is_invalidated_when_a_file_it_depends_on_changes(runner, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    base = write(tmp_path / "pkg" / "base.py", BASE_MODULE)
    net = write(tmp_path / "pkg" / "net.py", SUBCLASS)
    assert codes(runner([base, net])) == [("net.py", "NN102", 4)]
    base.write_text("class Base:\n    pass\n")  # no longer a Module
    assert codes(runner([base, net])) == []
    assert runner.linted == ["base.py", "net.py"]


def test_a_dependency_that_is_not_linted_is_tracked_too(runner, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    base = write(tmp_path / "pkg" / "base.py", BASE_MODULE)
    net = write(tmp_path / "pkg" / "net.py", SUBCLASS)
    assert codes(runner([net])) == [("net.py", "NN102", 4)]
    assert codes(runner([net])) == [("net.py", "NN102", 4)]
    assert runner.linted == []
    base.write_text("class Base:\n    pass\n")
    assert codes(runner([net])) == []
    assert runner.linted == ["net.py"]


def test_a_dependency_that_appears_invalidates_the_result(runner, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    net = write(tmp_path / "pkg" / "net.py", SUBCLASS)
    assert codes(runner([net])) == []  # Base cannot be seen: silent
    write(tmp_path / "pkg" / "base.py", BASE_MODULE)
    assert codes(runner([net])) == [("net.py", "NN102", 4)]
    assert runner.linted == ["net.py"]


def test_summaries_of_dependencies_are_cached_and_invalidated(runner, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    base = write(tmp_path / "pkg" / "base.py", BASE_MODULE)
    net = write(tmp_path / "pkg" / "net.py", SUBCLASS)
    runner([net])
    summaries = list((runner.cache_dir).rglob("summaries/*.json"))
    assert len(summaries) == 1
    entry = json.loads(summaries[0].read_text())
    assert entry["module"] == "pkg.base" and entry["class_bases"] == {"Base": ["torch.nn.Module"]}
    base.write_text("class Base:\n    pass\n")
    net.write_text(net.read_text() + "\n")  # force a lint of net.py: the summary must be fresh
    assert codes(runner([net])) == []


def test_corrupt_entries_are_ignored_with_a_warning(runner, tmp_path):
    files = [write(tmp_path / "a.py", MISSING_SUPER), write(tmp_path / "b.py", WRONG_SUPER)]
    expected = runner(files)
    for entry in _entries(runner.cache_dir):
        entry.write_bytes(b"{\"schema\": 1, truncated")
    assert runner(files) == expected
    assert runner.linted == ["a.py", "b.py"]
    assert len(runner.warnings) == 1 and "corrupt" in runner.warnings[0]
    assert runner(files) == expected  # rewritten
    assert runner.linted == [] and runner.warnings == []


def test_tampered_entries_are_ignored_with_a_warning(runner, tmp_path):
    files = [write(tmp_path / "a.py", MISSING_SUPER), write(tmp_path / "b.py", WRONG_SUPER)]
    expected = runner(files)
    tampering = {
        "a.py": lambda e: e["result"]["findings"][0].update(line="4"),
        "b.py": lambda e: e["result"]["findings"][0]["fix"].update(edits=[{"line": 1}]),
    }
    for path in _entries(runner.cache_dir):
        entry = json.loads(path.read_text())
        if "result" in entry:
            tampering[Path(entry["path"]).name](entry)
            path.write_text(json.dumps(entry))
    assert runner(files) == expected
    assert runner.linted == ["a.py", "b.py"]
    assert any("corrupt" in w for w in runner.warnings)


def test_an_entry_of_another_file_is_not_used(runner, tmp_path):
    a = write(tmp_path / "a.py", MISSING_SUPER)
    b = write(tmp_path / "b.py", MISSING_SUPER.replace("self.x = 1", "super().__init__()"))
    runner([a, b])
    entries = {json.loads(p.read_text())["path"]: p for p in _entries(runner.cache_dir) if "results-" in str(p)}
    entries[str(b.resolve())].write_bytes(entries[str(a.resolve())].read_bytes())
    assert codes(runner([a, b])) == [("a.py", "NN102", 4)]
    assert runner.linted == ["b.py"]


def test_an_unwritable_cache_warns_and_still_lints(runner, tmp_path):
    runner.cache_dir = write(tmp_path / "not-a-directory", "")
    files = [write(tmp_path / "a.py", MISSING_SUPER)]
    assert codes(runner(files)) == [("a.py", "NN102", 4)]
    assert len(runner.warnings) == 1 and "cannot write the cache" in runner.warnings[0]


def test_no_cache_neither_reads_nor_writes(runner, tmp_path):
    files = [write(tmp_path / "a.py", MISSING_SUPER)]
    runner(files, use_cache=False)
    assert not runner.cache_dir.exists()
    runner(files)
    runner(files, use_cache=False)
    assert runner.linted == ["a.py"]


def test_the_cache_directory_is_tagged_and_holds_only_json(runner, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "base.py", BASE_MODULE)
    runner([write(tmp_path / "pkg" / "net.py", SUBCLASS), write(tmp_path / "b.py", WRONG_SUPER)])
    assert (runner.cache_dir / "CACHEDIR.TAG").read_text() == CACHEDIR_TAG
    assert (runner.cache_dir / ".gitignore").read_text().splitlines()[-1] == "*"
    stored = [p for p in runner.cache_dir.rglob("*") if p.is_file() and p.name not in ("CACHEDIR.TAG", ".gitignore")]
    assert len(stored) == 3  # two results, one summary
    for path in stored:
        assert path.suffix == ".json" and isinstance(json.loads(path.read_text()), dict)


def test_the_default_cache_directory_is_beside_the_closest_pyproject(tmp_path):
    write(tmp_path / "project" / "pyproject.toml", "[project]\nname = 'x'\n")
    inner = tmp_path / "project" / "src" / "pkg"
    inner.mkdir(parents=True)
    assert default_cache_dir(inner) == (tmp_path / "project" / ".nnlint_cache").resolve()
    alone = tmp_path / "alone"
    alone.mkdir()
    if not any((d / "pyproject.toml").is_file() for d in alone.resolve().parents):
        assert default_cache_dir(alone) == alone.resolve() / ".nnlint_cache"
