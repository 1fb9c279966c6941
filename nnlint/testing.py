"""Test helpers for rules -- nnlint's own and those of third-party rule packs.

Every rule carries VALID and INVALID examples; these helpers turn them into tests. A rule pack
needs two lines in its test suite::

    from nnlint.testing import check_example, example_cases
    from my_pack import MyRule

    @pytest.mark.parametrize(("rule", "kind", "example"), example_cases([MyRule]))
    def test_examples(rule, kind, example):
        check_example(rule, kind, example)

or, without pytest, ``check_rule_examples(MyRule)`` checks them all and raises ``AssertionError``
naming the first example that fails. The checks: a VALID example produces no finding of the rule;
every line of an INVALID example that ends in ``# error`` gets a finding and no other line does;
an INVALID example with ``fixed=...`` gives exactly that source after the rule's fixes, still
compiles, and has nothing left to fix; and the rule's definition is complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from nnlint.findings import FileResult
from nnlint.rule import ERROR_MARK, Invalid, Rule

if TYPE_CHECKING:
    from nnlint.settings import Settings

KINDS = ("definition", "valid", "invalid", "fix")
_MAX_FIX_ROUNDS = 10


def lint_source(
    source: str, rules: Sequence[type[Rule]], path: str = "example.py", settings: Settings | None = None
) -> FileResult:
    """Lint ``source`` in-process with exactly ``rules`` (no other files); ``settings`` is what
    rules read as ``ctx.settings`` (e.g. torch-version), none by default."""
    from nnlint.engine import Engine
    from nnlint.project import ClassHierarchy

    engine = Engine(ClassHierarchy(lambda *args: None), settings)
    return engine.lint(source, path, list(rules), module=Path(path).stem)


def _fail(rule: type[Rule], what: str, source: str, detail: str) -> None:
    numbered = "\n".join(f"{n:>3} | {line}" for n, line in enumerate(source.splitlines(), 1))
    raise AssertionError(f"{rule.code} ({rule.name}) {what}: {detail}\n{numbered}")


def _lint_cleanly(rule: type[Rule], what: str, source: str) -> FileResult:
    result = lint_source(source, [rule])
    if result.errors:
        _fail(rule, what, source, "could not be linted: " + "; ".join(e.message for e in result.errors))
    return result


def check_definition(rule: type[Rule]) -> None:
    problems = rule.validate_definition()
    if rule.fix_availability != "none" and rule.fix_safety == Rule.fix_safety:
        problems.append("offers a fix but does not explain its safety (fix_safety)")
    if problems:
        raise AssertionError(f"{rule.code} ({rule.name or rule.__name__}) is incompletely defined: {'; '.join(problems)}")


def check_valid_example(rule: type[Rule], source: str) -> None:
    result = _lint_cleanly(rule, "VALID example", source)
    if result.findings:
        lines = ", ".join(f"line {f.line}: {f.message}" for f in result.findings)
        _fail(rule, "VALID example", source, f"expected no finding, got {lines}")


def check_invalid_example(rule: type[Rule], example: Invalid | str) -> None:
    example = example if isinstance(example, Invalid) else Invalid(example)
    expected = {n for n, line in enumerate(example.code.splitlines(), 1) if line.rstrip().endswith(ERROR_MARK)}
    if not expected:
        _fail(rule, "INVALID example", example.code, f"mark the lines that must be flagged with {ERROR_MARK!r}")
    result = _lint_cleanly(rule, "INVALID example", example.code)
    flagged = {f.line for f in result.findings}
    if flagged != expected:
        _fail(
            rule,
            "INVALID example",
            example.code,
            f"expected findings on lines {sorted(expected)}, got them on lines {sorted(flagged)}",
        )
    for finding in result.findings:
        if (finding.code, finding.name) != (rule.code, rule.name) or not finding.message.strip():
            _fail(rule, "INVALID example", example.code, f"malformed finding {finding!r}")


def apply_rule_fixes(source: str, rules: Sequence[type[Rule]]) -> str:
    """``source`` after applying the rules' fixes, in rounds, as ``nnlint --fix`` does."""
    from nnlint.fixes import apply_fixes

    for _ in range(_MAX_FIX_ROUNDS):
        result = lint_source(source, rules)
        applied = apply_fixes(source, [f for f in result.findings if f.fix is not None])
        if not applied.applied:
            break
        source = applied.text
    return source


def check_fix_example(rule: type[Rule], example: Invalid) -> None:
    if example.fixed is None:
        raise ValueError("this INVALID example has no `fixed` source to check")
    result = _lint_cleanly(rule, "fix example", example.code)
    if not any(f.fix is not None for f in result.findings):
        _fail(rule, "fix example", example.code, "the example expects a fix but none was offered")
    fixed = apply_rule_fixes(example.code, [rule])
    if fixed != example.fixed:
        _fail(rule, "fix example", example.code, f"expected after fixing:\n{example.fixed}\ngot:\n{fixed}")
    try:
        compile(fixed, "<fixed>", "exec")
    except SyntaxError as exc:
        _fail(rule, "fix example", fixed, f"the fixed source does not compile: {exc}")
    again = _lint_cleanly(rule, "fixed source", fixed)
    if any(f.fix is not None for f in again.findings):
        _fail(rule, "fix example", fixed, "a second pass still offers fixes")


def check_example(rule: type[Rule], kind: str, example: Any = None) -> None:
    """Run one case of :func:`example_cases`."""
    if kind == "definition":
        check_definition(rule)
    elif kind == "valid":
        check_valid_example(rule, example)
    elif kind == "invalid":
        check_invalid_example(rule, example)
    elif kind == "fix":
        check_fix_example(rule, example)
    else:
        raise ValueError(f"unknown example kind {kind!r}; expected one of {', '.join(KINDS)}")


def iter_examples(rules: Iterable[type[Rule]], kinds: Sequence[str] = KINDS) -> Iterator[tuple[str, type[Rule], str, Any]]:
    """(test id, rule, kind, example) for every example of every rule."""
    for rule in rules:
        if "definition" in kinds:
            yield f"{rule.code}-definition", rule, "definition", None
        if "valid" in kinds:
            for index, source in enumerate(rule.VALID):
                yield f"{rule.code}-valid-{index}", rule, "valid", source
        invalid = rule.invalid_examples()
        if "invalid" in kinds:
            for index, example in enumerate(invalid):
                yield f"{rule.code}-invalid-{index}", rule, "invalid", example
        if "fix" in kinds:
            for index, example in enumerate(invalid):
                if example.fixed is not None:
                    yield f"{rule.code}-fix-{index}", rule, "fix", example


def example_cases(rules: Iterable[type[Rule]], kinds: Sequence[str] = KINDS) -> list[Any]:
    """``pytest.param(rule, kind, example)`` for every example, with readable ids, for
    ``@pytest.mark.parametrize(("rule", "kind", "example"), example_cases(RULES))``."""
    import pytest

    return [pytest.param(rule, kind, example, id=case_id) for case_id, rule, kind, example in iter_examples(rules, kinds)]


def check_rule_examples(rule: type[Rule]) -> None:
    """Every check for one rule; raises ``AssertionError`` at the first failing example."""
    for _, _, kind, example in iter_examples([rule]):
        check_example(rule, kind, example)
