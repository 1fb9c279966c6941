"""Helpers for the speed tests: a small project on disk and in-process runs of the runner."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nnlint.registry import Registry
from nnlint.runner import FileLinter, lint_paths
from nnlint.settings import Settings

SEED_RULES = ("NN101", "NN102", "NN103")


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


class Runner:
    """Runs the linter in-process and records which files were actually linted (not answered
    from the cache)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.cache_dir = root / "cache"
        self.linted: list[str] = []
        original = FileLinter.lint_path

        def recording(linter: FileLinter, path: str):  # type: ignore[no-untyped-def]
            self.linted.append(Path(path).name)
            return original(linter, path)

        monkeypatch.setattr(FileLinter, "lint_path", recording)
        # The code fingerprint changes whenever a source file of nnlint is saved; pin it so the
        # tests do not depend on edits happening elsewhere while they run.
        monkeypatch.setattr("nnlint.cache.code_fingerprint", lambda: "pinned")
        monkeypatch.chdir(root)

    def __call__(self, files, select=SEED_RULES, jobs=1, use_cache=True, **settings):  # type: ignore[no-untyped-def]
        self.linted = []
        self.warnings: list[str] = []
        options = Settings(select=tuple(select), cache_dir=str(self.cache_dir), project_root=str(self.root), **settings)
        return list(lint_paths([Path(f) for f in files], options, Registry(), jobs, use_cache=use_cache, warnings=self.warnings))


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    return Runner(tmp_path, monkeypatch)


def codes(results) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    return [(Path(r.path).name, f.code, f.line) for r in results for f in r.findings]
