"""Every rule's VALID and INVALID examples run as tests (one test per example), and its fixes
are checked against the expected output and for idempotence. The checks live in nnlint.testing,
which rule packs use for their own rules."""

from __future__ import annotations

import pytest

from nnlint.registry import Registry
from nnlint.rules import BUILTIN
from nnlint.testing import check_definition, check_fix_example, check_invalid_example, check_valid_example

REGISTRY = Registry.with_plugins()
RULES = [REGISTRY.load(code) for code in REGISTRY.codes()]


def _cases(kind: str):
    for rule in RULES:
        examples = rule.VALID if kind == "valid" else rule.invalid_examples()
        for index, example in enumerate(examples):
            yield pytest.param(rule, example, id=f"{rule.code}-{kind}-{index}")


@pytest.mark.parametrize(("rule", "source"), list(_cases("valid")))
def test_valid_example_is_silent(rule, source):
    check_valid_example(rule, source)


@pytest.mark.parametrize(("rule", "example"), list(_cases("invalid")))
def test_invalid_example_is_flagged_on_marked_lines(rule, example):
    check_invalid_example(rule, example)


@pytest.mark.parametrize(("rule", "example"), [p for p in _cases("invalid") if p.values[1].fixed is not None])
def test_fix_gives_expected_output_and_is_idempotent(rule, example):
    check_fix_example(rule, example)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_definition_is_complete(rule):
    check_definition(rule)


@pytest.mark.parametrize("code", sorted(BUILTIN))
def test_builtin_table_matches_rule_class(code):
    name, default, _ = BUILTIN[code]
    rule = REGISTRY.load(code)
    assert (rule.code, rule.name, rule.default_enabled) == (code, name, default)


def test_codes_and_names_are_unique():
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
