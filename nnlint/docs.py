"""Rule documentation, generated from the rule classes: `nnlint rule CODE`, `nnlint rule --all`
and docs/rules.md (scripts/gen_rule_docs.py; a test keeps it current)."""

from __future__ import annotations

import textwrap

from nnlint.registry import Registry
from nnlint.rule import Rule


def _fix_label(rule: type[Rule]) -> str:
    return {"safe": "safe fix", "unsafe": "unsafe fix", "none": "no fix"}[rule.fix_availability]


def rule_page(rule: type[Rule]) -> str:
    default = "on by default" if rule.default_enabled else "off by default (enable with --extend-select)"
    parts = [
        f"# {rule.name} ({rule.code})",
        "",
        f"{rule.summary}.",
        "",
        f"Default: {default}. Fix: {_fix_label(rule)}.",
        "",
        "## What it does",
        "",
        textwrap.fill(rule.what, 88),
        "",
        "## Why is this bad?",
        "",
        textwrap.fill(rule.why, 88),
        "",
        "## Example",
        "",
        "```python",
        rule.example_text().rstrip(),
        "```",
        "",
        "## Use instead",
        "",
        "```python",
        rule.use_instead_text().rstrip(),
        "```",
        "",
        "## Fix safety",
        "",
        textwrap.fill(rule.fix_safety, 88),
        "",
    ]
    return "\n".join(parts)


def rules_table(registry: Registry) -> str:
    rows = [("code", "name", "default", "fix", "summary")]
    for code in registry.codes():
        rule = registry.load(code)
        rows.append((code, rule.name, "on" if rule.default_enabled else "off", rule.fix_availability, rule.summary))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return "\n".join(lines) + "\n"


def rules_markdown(registry: Registry) -> str:
    lines = [
        "# nnlint rules",
        "",
        "Generated from the rule classes by `python scripts/gen_rule_docs.py`; do not edit by hand.",
        "",
        "| code | name | default | fix | summary |",
        "|---|---|---|---|---|",
    ]
    rules = [registry.load(code) for code in registry.codes()]
    for rule in rules:
        anchor = f"{rule.code.lower()}-{rule.name}"
        lines.append(
            f"| [{rule.code}](#{anchor}) | `{rule.name}` | {'on' if rule.default_enabled else 'off'} "
            f"| {rule.fix_availability} | {rule.summary} |"
        )
    lines.append("")
    for rule in rules:
        page = rule_page(rule).replace(f"# {rule.name} ({rule.code})", f"## {rule.code} {rule.name}", 1)
        page = page.replace("\n## ", "\n### ")
        lines.append(page)
    return "\n".join(lines)
