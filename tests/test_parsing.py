"""nnlint's parse gives LibCST's tree, only without re-validating the parser's output."""

from pathlib import Path

import libcst as cst
import pytest

from nnlint import parsing

SOURCES = sorted((Path(__file__).parent.parent / "fixtures").rglob("*.py")) + sorted(
    (Path(__file__).parent.parent / "nnlint").rglob("*.py")
)


def test_validation_is_skipped_with_the_installed_libcst():
    # If this fails, a LibCST upgrade changed CSTNode.__post_init__: nnlint still works (it parses
    # the stock way), but lost the speed-up; check what the hook does now.
    assert parsing.SKIPS_VALIDATION


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_the_tree_is_the_one_libcst_builds(path):
    source = path.read_text()
    fast = parsing.parse_module(source)
    assert fast.deep_equals(cst.parse_module(source))
    assert fast.code == source


def test_validation_is_back_on_after_a_parse_even_a_failing_one():
    parsing.parse_module("x = 1\n")
    with pytest.raises(cst.ParserSyntaxError):
        parsing.parse_module("x = = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")  # validation rejects a name with spaces
