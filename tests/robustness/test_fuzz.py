"""Property-based robustness: generated programs and mutated real model files never make nnlint
raise an internal error, and applying every fix always leaves code that compiles.

The fast profile runs in the normal suite; `NNLINT_FUZZ_EXAMPLES=5000 python -m pytest
tests/robustness/test_fuzz.py` is the long profile (see bench/README.md)."""

from __future__ import annotations

import os
import random

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint.engine import Engine
from nnlint.project import ClassHierarchy
from nnlint.registry import Registry
from tests.conftest import REPO

EXAMPLES = int(os.environ.get("NNLINT_FUZZ_EXAMPLES", "25"))
REGISTRY = Registry()
ALL_RULES = [REGISTRY.load(code) for code in REGISTRY.codes()]
MODEL_FILES = sorted(p for p in (REPO / "fixtures").rglob("*.py"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def lint(source: str):
    return Engine(ClassHierarchy(lambda *a: None)).lint(source, "fuzz.py", ALL_RULES, module="fuzz")


def check(source: str) -> None:
    result = lint(source)
    internal = [e.message for e in result.errors if e.kind == "internal"]
    assert not internal, internal
    if result.errors:
        return  # a syntax error is a fine answer for an invalid program
    try:
        from nnlint.fixing import fix_text
    except ImportError:  # pragma: no cover - the fix engine is optional here
        return
    outcome = fix_text(source, "fuzz.py", lambda text: lint(text), lambda fix: fix is not None)
    assert outcome.failure is None, outcome.failure
    if _compiles(source):  # LibCST parses some programs CPython rejects (`return` outside a function)
        compile(outcome.text, "fuzz.py", "exec")


def _compiles(source: str) -> bool:
    try:
        compile(source, "fuzz.py", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


@FUZZ
@given(hypothesmith.from_grammar())
def test_generated_programs(source):
    check(source)


@FUZZ
@given(hypothesmith.from_node())
def test_generated_syntax_trees(source):
    check(source)


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.choice(["delete", "duplicate", "swap", "truncate", "dedent"])
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)] + "\n"
        else:
            lines[i] = lines[i].lstrip()
    return "".join(lines)


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_model_files(path, seed):
    check(_mutate(path.read_text(encoding="utf-8"), random.Random(seed)))
