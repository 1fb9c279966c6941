"""Applying several fixes to one source: all-or-nothing fixes, deterministic overlap handling,
shared identical edits, and positions counted the way LibCST counts them."""

from __future__ import annotations

from nnlint.findings import Edit, Finding, Fix
from nnlint.fixes import apply_edits, apply_fixes


def _finding(code: str, line: int, *edits: Edit, applicability: str = "safe") -> Finding:
    return Finding("f.py", line, 1, line, 2, code, "rule", "message", Fix(applicability, "describe", edits))


def test_non_overlapping_fixes_are_applied_together():
    source = "a = 1\nb = 2\n"
    first = _finding("NN1", 1, Edit(1, 5, 1, 6, "10"))
    second = _finding("NN2", 2, Edit(2, 5, 2, 6, "20"))
    result = apply_fixes(source, [second, first])
    assert result.text == "a = 10\nb = 20\n"
    assert result.applied == [first, second] and result.deferred == []


def test_the_later_overlapping_fix_is_deferred_whatever_the_input_order():
    source = "value = compute(x)\n"
    outer = _finding("NN2", 1, Edit(1, 9, 1, 19, "other(x)"))
    inner = _finding("NN1", 1, Edit(1, 17, 1, 18, "y"))
    for order in ([outer, inner], [inner, outer]):
        result = apply_fixes(source, order)
        assert result.text == "value = other(x)\n"
        assert result.applied == [outer] and result.deferred == [inner]


def test_a_fix_goes_in_whole_or_not_at_all():
    source = "a = 1\nb = 2\nc = 3\n"
    blocker = _finding("NN1", 1, Edit(1, 1, 1, 6, "a = 10"))
    # Its edit on line 3 is fine, the one on line 1 overlaps the blocker: neither may go in.
    two_edits = _finding("NN2", 3, Edit(3, 5, 3, 6, "30"), Edit(1, 5, 1, 6, "11"))
    result = apply_fixes(source, [two_edits, blocker])
    assert result.text == "a = 10\nb = 2\nc = 3\n"
    assert result.deferred == [two_edits]


def test_identical_import_edits_are_shared_not_duplicated():
    source = "import torch\n\nx = f(a)\ny = f(b)\n"
    add_copy = Edit(2, 1, 2, 1, "import copy\n")
    first = _finding("NN301", 3, Edit(3, 5, 3, 9, "copy.deepcopy(a)"), add_copy)
    second = _finding("NN301", 4, Edit(4, 5, 4, 9, "copy.deepcopy(b)"), add_copy)
    result = apply_fixes(source, [first, second])
    assert result.text == "import torch\nimport copy\n\nx = copy.deepcopy(a)\ny = copy.deepcopy(b)\n"
    assert len(result.applied) == 2


def test_two_different_insertions_at_one_place_conflict():
    source = "x = 1\n"
    first = _finding("NN1", 1, Edit(1, 1, 1, 1, "import a\n"))
    second = _finding("NN2", 1, Edit(1, 1, 1, 1, "import b\n"))
    result = apply_fixes(source, [second, first])
    assert result.text == "import a\nx = 1\n"
    assert result.deferred == [second]


def test_adjacent_edits_do_not_conflict():
    source = "ab\n"
    result = apply_fixes(source, [_finding("NN1", 1, Edit(1, 1, 1, 2, "A")), _finding("NN2", 1, Edit(1, 2, 1, 3, "B"))])
    assert result.text == "AB\n"


def test_findings_without_fix_are_ignored():
    source = "x = 1\n"
    plain = Finding("f.py", 1, 1, 1, 2, "NN1", "rule", "message")
    assert apply_fixes(source, [plain]).text == source


def test_positions_count_only_python_line_breaks():
    # A form feed is whitespace to Python and LibCST, but str.splitlines() breaks lines at it.
    source = "a = 1\x0c\nb = 2\r\nc = 3\rd = 4\n"
    edits = [Edit(2, 5, 2, 6, "20"), Edit(3, 5, 3, 6, "30"), Edit(4, 5, 4, 6, "40")]
    assert apply_edits(source, edits) == "a = 1\x0c\nb = 20\r\nc = 30\rd = 40\n"


def test_an_edit_past_the_end_appends():
    assert apply_edits("x = 1", [Edit(2, 1, 2, 1, "\ny = 2\n")]) == "x = 1\ny = 2\n"
