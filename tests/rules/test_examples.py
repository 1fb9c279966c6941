"""Every rule's VALID and INVALID examples run as tests (one test per example), and its fixes
are checked against the expected output and for idempotence."""

from __future__ import annotations

import pytest

from nnlint.fixes import apply_edits
from nnlint.registry import Registry
from nnlint.rule import ERROR_MARK
from nnlint.rules import BUILTIN
from tests.conftest import lint_snippet

REGISTRY = Registry.with_plugins()
RULES = [REGISTRY.load(code) for code in REGISTRY.codes()]


def _cases(kind: str):
    for rule in RULES:
        examples = rule.VALID if kind == "valid" else rule.invalid_examples()
        for index, example in enumerate(examples):
            yield pytest.param(rule, example, id=f"{rule.code}-{kind}-{index}")


@pytest.mark.parametrize(("rule", "source"), list(_cases("valid")))
def test_valid_example_is_silent(rule, source):
    result = lint_snippet(source, [rule.code])
    assert not result.errors, result.errors
    assert [f.message for f in result.findings] == []


@pytest.mark.parametrize(("rule", "example"), list(_cases("invalid")))
def test_invalid_example_is_flagged_on_marked_lines(rule, example):
    result = lint_snippet(example.code, [rule.code])
    assert not result.errors, result.errors
    expected = {n for n, line in enumerate(example.code.splitlines(), 1) if line.rstrip().endswith(ERROR_MARK)}
    assert expected, "an INVALID example must mark its lines with '# error'"
    assert {f.line for f in result.findings} == expected
    for finding in result.findings:
        assert finding.code == rule.code and finding.name == rule.name
        assert finding.message


@pytest.mark.parametrize(("rule", "example"), [p for p in _cases("invalid") if p.values[1].fixed is not None])
def test_fix_gives_expected_output_and_is_idempotent(rule, example):
    result = lint_snippet(example.code, [rule.code])
    edits = [e for f in result.findings if f.fix for e in f.fix.edits]
    assert edits, "the example expects a fix but none was offered"
    fixed = apply_edits(example.code, edits)
    assert fixed == example.fixed
    compile(fixed, "<fixed>", "exec")
    again = lint_snippet(fixed, [rule.code])
    assert not [f for f in again.findings if f.fix], "a second pass must have nothing left to fix"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_definition_is_complete(rule):
    assert rule.validate_definition() == []
    assert rule.fix_availability == "none" or rule.fix_safety != "No fix is available."


@pytest.mark.parametrize("code", sorted(BUILTIN))
def test_builtin_table_matches_rule_class(code):
    name, default, _ = BUILTIN[code]
    rule = REGISTRY.load(code)
    assert (rule.code, rule.name, rule.default_enabled) == (code, name, default)


def test_codes_and_names_are_unique():
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
