"""Shared helpers: run the real console script, lint a snippet in-process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The plugin's own tests (tests/plugin) drive pytest in-process.
pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> list[dict]:
        return json.loads(self.out)


def nnlint_executable() -> list[str]:
    """The installed console script (what users run), next to this interpreter."""
    script = Path(sys.executable).with_name("nnlint")
    if script.exists():
        return [str(script)]
    found = shutil.which("nnlint")
    if found:
        return [found]
    return [sys.executable, "-m", "nnlint"]


def run_cli(*args: str, cwd: Path | str | None = None, stdin: str | bytes | None = None, env: dict | None = None) -> CliResult:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("NNLINT_CACHE_DIR", None)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run(
        [*nnlint_executable(), *args],
        cwd=cwd,
        input=data,
        capture_output=True,
        env=full_env,
        timeout=300,
    )
    return CliResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def cli():
    return run_cli


def lint_snippet(source: str, codes: list[str] | None = None, path: str = "snippet.py"):
    """Findings for ``source`` with the given rules (default: every rule), in-process."""
    from nnlint.engine import Engine
    from nnlint.project import ClassHierarchy
    from nnlint.registry import Registry

    registry = Registry.with_plugins()
    rules = [registry.load(c) for c in (codes or registry.codes())]
    engine = Engine(ClassHierarchy(lambda *a: None))
    return engine.lint(source, path, rules, module=Path(path).stem)
