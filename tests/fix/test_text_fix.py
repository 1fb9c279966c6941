"""From a rule's NodeFix to text edits: multi-line replacements get the enclosing block's
indentation back (LibCST generates a lone node without it), string literals stay untouched, and
CRLF files get CRLF."""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.engine import Engine
from nnlint.fixes import apply_fixes
from nnlint.project import ClassHierarchy
from nnlint.rule import NodeFix, Rule


class _WrapAsText(Rule):
    """`x = [...]` -> `x = wrap([...])`, built as text from the value's code (as most rules do)."""

    code = "XX911"
    name = "wrap-as-text"

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, (cst.List, cst.Call)):
            text = f"wrap({self.ctx.module.code_for_node(node.value)})"
            self.report(node.value, "wrap", NodeFix("wrap", "safe", ((node.value, text),)))


class _WrapAsNode(Rule):
    """The same, built as a LibCST node."""

    code = "XX912"
    name = "wrap-as-node"

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, (cst.List, cst.Call)):
            new = cst.Call(cst.Name("wrap"), [cst.Arg(node.value)])
            self.report(node.value, "wrap", NodeFix("wrap", "safe", ((node.value, new),)))


def _fixed(source: str, rule: type[Rule]) -> str:
    result = Engine(ClassHierarchy(lambda *a: None)).lint(source, "s.py", [rule], "s")
    fixed = apply_fixes(source, result.findings).text
    compile(fixed, "s.py", "exec")
    return fixed


NESTED = """\
class C:
    def f(self):
        if self:
            self.layers = [
                make(1),
                make(2),
            ]
"""
NESTED_FIXED = NESTED.replace("= [", "= wrap([").replace("            ]\n", "            ])\n")


@pytest.mark.parametrize("rule", [_WrapAsText, _WrapAsNode])
def test_a_multi_line_replacement_keeps_the_block_indentation(rule):
    assert _fixed(NESTED, rule) == NESTED_FIXED


@pytest.mark.parametrize("rule", [_WrapAsText, _WrapAsNode])
def test_lines_inside_a_string_literal_are_not_reindented(rule):
    source = 'def f():\n    x = g(\n        """a\nb""",\n    )\n'
    assert _fixed(source, rule) == 'def f():\n    x = wrap(g(\n        """a\nb""",\n    ))\n'


def test_crlf_files_get_crlf_in_replacements():
    source = NESTED.replace("\n", "\r\n")
    assert _fixed(source, _WrapAsText) == NESTED_FIXED.replace("\n", "\r\n")
