"""Golden files: ``golden/<CODES>_<case>.input.py`` fixed with the rules named in ``CODES``
(joined by ``-``, unsafe fixes included) must give ``<CODES>_<case>.expected.py``, which must
compile and must come out of a second fix run unchanged.

To add a case, write the input and run ``python -m tests.fix.test_golden --regenerate`` (then
read the expected file before committing it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nnlint.engine import Engine
from nnlint.fixing import fix_text
from nnlint.project import ClassHierarchy
from nnlint.registry import Registry

GOLDEN = Path(__file__).parent / "golden"
INPUTS = sorted(GOLDEN.glob("*.input.py"))


def _fixed(source: str, codes: list[str], path: str) -> tuple[str, dict[str, int]]:
    registry = Registry.with_plugins()
    rules = [registry.load(code) for code in codes]
    engine = Engine(ClassHierarchy(lambda *a: None))
    outcome = fix_text(source, path, lambda text: engine.lint(text, path, rules, "golden"), lambda fix: fix is not None)
    assert outcome.failure is None, outcome.failure
    return outcome.text, dict(outcome.applied)


def _case(input_path: Path) -> tuple[list[str], Path]:
    codes = input_path.name.split("_", 1)[0].split("-")
    return codes, input_path.with_name(input_path.name.replace(".input.py", ".expected.py"))


@pytest.mark.parametrize("input_path", INPUTS, ids=lambda p: p.name.replace(".input.py", ""))
def test_golden_fix(input_path: Path):
    codes, expected_path = _case(input_path)
    source = input_path.read_text()
    fixed, applied = _fixed(source, codes, input_path.name)
    assert set(applied) == set(codes), f"every rule named in the file name must fix something: {applied}"
    assert fixed == expected_path.read_text()
    compile(fixed, expected_path.name, "exec")
    again, applied_again = _fixed(fixed, codes, expected_path.name)
    assert (again, applied_again) == (fixed, {})


def test_every_fixable_seed_rule_has_a_golden_case():
    covered = {code for path in INPUTS for code in _case(path)[0]}
    assert {"NN101", "NN103", "NN301"} <= covered


if __name__ == "__main__" and "--regenerate" in sys.argv:
    for path in INPUTS:
        codes, expected = _case(path)
        expected.write_text(_fixed(path.read_text(), codes, path.name)[0])
        print(f"wrote {expected.name}")
