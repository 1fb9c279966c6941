"""Bounded memory: once a file is linted, nothing of its syntax tree stays alive.

Peak memory must not grow with the number of files. The way it grew before was a module-level
memo keyed weakly on the file's context whose value referred back to the context, so every tree
of the run stayed alive.
"""

from __future__ import annotations

import gc
from pathlib import Path

import libcst as cst

from nnlint.registry import Registry
from nnlint.runner import FileLinter
from nnlint.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _live_trees() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, cst.Module))


def test_no_syntax_tree_outlives_its_file(tmp_path):
    files = sorted(FIXTURES.glob("*.py"))
    assert len(files) >= 5  # every rule family's fixture, so every shared analysis runs
    linter = FileLinter(Settings(select=("ALL",), project_root=str(tmp_path)), Registry.with_plugins(), [FIXTURES])
    linter.lint_path(str(files[0]))  # warm up: import-time objects are not what is measured
    gc.collect()
    before = _live_trees()
    findings = 0
    for _ in range(3):
        for path in files:
            findings += len(linter.lint_path(str(path)).findings)
    gc.collect()
    after = _live_trees()
    assert findings > 50  # the rules really ran
    assert after == before, f"{after - before} syntax trees still alive after linting {3 * len(files)} files"
