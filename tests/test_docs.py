"""docs/rules.md is generated from the rule classes and must be current."""

from __future__ import annotations

from nnlint.docs import rules_markdown
from nnlint.registry import Registry
from tests.conftest import REPO


def test_rule_reference_is_current():
    current = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == rules_markdown(Registry()), "docs/rules.md is out of date: run python scripts/gen_rule_docs.py"


def test_readme_links_the_rule_reference_and_names_the_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/rules.md" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = ci.strip().splitlines()[-1]
    assert test_command in readme
