"""The fix loop: rounds until nothing applies, overlap resolved in the next round, refusal of
results that would not parse, and the bound on rounds."""

from __future__ import annotations

import io
from pathlib import Path

import libcst as cst

from nnlint.app import CheckOptions, run_check
from nnlint.engine import Engine
from nnlint.fixing import MAX_ROUNDS, FixMode, fix_source, fix_text
from nnlint.sources import Source
from nnlint.project import ClassHierarchy
from nnlint.rule import NodeFix, Rule
from nnlint.rules.module.super_wrong_class import SuperWrongClass


class _CallRename(Rule):
    """`f(...)` -> `g(...)`, replacing the whole call (so nested calls overlap)."""

    code = "XX901"
    name = "call-rename"

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "f":
            args = self.ctx.module.code_for_node(node).partition("(")[2]
            self.report(node, "call g", NodeFix("call g", "safe", ((node, f"g({args}"),)))


class _Parenthesise(Rule):
    """Never settles: `x` -> `(x)` forever."""

    code = "XX902"
    name = "parenthesise"

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "x":
            self.report(node, "wrap", NodeFix("wrap", "safe", ((node, "(x)"),)))


class _NoOp(Rule):
    code = "XX903"
    name = "no-op"

    def visit_Name(self, node: cst.Name) -> None:
        self.report(node, "same", NodeFix("same", "safe", ((node, node.value),)))


class _Euro(Rule):
    code = "XX904"
    name = "euro"

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if node.value == "'EUR'":
            self.report(node, "symbol", NodeFix("symbol", "unsafe", ((node, "'\u20ac'"),)))


class _Linter:
    """What the fix loop needs from runner.FileLinter, with rules of the test's choosing."""

    def __init__(self, *rules: type[Rule]) -> None:
        self.rules = list(rules)
        self.engine = Engine(ClassHierarchy(lambda *a: None))
        self.calls = 0

    def lint_text(self, text, path, module_path=None):
        self.calls += 1
        return self.engine.lint(text, path, self.rules, "snippet")


def _always(fix):
    return fix is not None


def test_overlapping_fixes_go_in_over_several_rounds():
    linter = _Linter(_CallRename)
    outcome = fix_text("y = f(f(f(1)))\n", "s.py", lambda t: linter.lint_text(t, "s.py"), _always)
    assert outcome.text == "y = g(g(g(1)))\n"
    assert outcome.applied == {"XX901": 3}
    assert outcome.result.findings == [] and outcome.failure is None
    assert linter.calls == 4  # three rounds, then a lint that finds nothing left to fix


def test_fixing_stops_after_the_round_limit_with_a_warning():
    linter = _Linter(_Parenthesise)
    outcome = fix_text("y = x\n", "s.py", lambda t: linter.lint_text(t, "s.py"), _always)
    assert outcome.text == "y = " + "(" * MAX_ROUNDS + "x" + ")" * MAX_ROUNDS + "\n"
    assert any(f"XX902 were still applicable after {MAX_ROUNDS} rounds" in w for w in outcome.result.warnings)


def test_fixes_that_change_nothing_end_the_loop():
    linter = _Linter(_NoOp)
    outcome = fix_text("y = x\n", "s.py", lambda t: linter.lint_text(t, "s.py"), _always)
    assert outcome.text == "y = x\n" and not outcome.applied
    assert len(outcome.result.findings) == 2


def test_unsafe_fixes_need_the_flag():
    linter = _Linter(_Euro)
    safe_only = fix_source(linter, Source("s.py", "s = 'EUR'\n", "utf-8"), FixMode.from_flags(True, False, False))
    assert safe_only.new_data is None and len(safe_only.findings) == 1
    unsafe = fix_source(linter, Source("s.py", "s = 'EUR'\n", "utf-8"), FixMode.from_flags(True, False, True))
    assert unsafe.new_data == "s = '\u20ac'\n".encode() and unsafe.findings == []
    assert unsafe.applied == {"XX904": 1}
    assert unsafe.diff.startswith("--- s.py\n+++ s.py\n")


def test_a_fix_the_file_encoding_cannot_hold_is_refused():
    linter = _Linter(_Euro)
    fixed = fix_source(linter, Source("s.py", "s = 'EUR'\n", "iso-8859-1"), FixMode.from_flags(True, False, True))
    assert fixed.new_data is None and not fixed.applied
    assert [e.kind for e in fixed.errors] == ["fix"]
    assert "XX904" in fixed.errors[0].message and "iso-8859-1 cannot encode" in fixed.errors[0].message
    assert len(fixed.findings) == 1  # the finding is still reported


def test_a_fix_that_breaks_the_code_is_refused_and_named(tmp_path: Path, monkeypatch):
    original_report = SuperWrongClass.report

    def broken_report(self, node, message, fix=None):
        broken = NodeFix("break it", "safe", ((node, "super(("),)) if fix is not None else None
        original_report(self, node, message, broken)

    monkeypatch.setattr(SuperWrongClass, "report", broken_report)
    source = "import torch.nn as nn\n\nclass Model(nn.Module):\n    def __init__(self):\n        super(Other, self).__init__()\n"
    target = tmp_path / "model.py"
    target.write_text(source)
    out, err = io.StringIO(), io.StringIO()
    code = run_check(CheckOptions(paths=[str(target)], isolated=True, select=["NN101"], fix=True, jobs=1), out, err)
    assert code == 2
    assert target.read_text() == source
    assert "fix for NN101 would make the file invalid" in out.getvalue()
    assert "the file was left unchanged" in out.getvalue()
    assert f"{target}:5:9: NN101 [*]" in out.getvalue()  # the finding itself is still reported
