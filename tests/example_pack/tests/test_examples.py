"""The pack's own tests: every example of every rule, through nnlint's test helpers."""

import pytest

from nnlint.testing import check_example, example_cases
from nnlint_example_pack import RULES


@pytest.mark.parametrize(("rule", "kind", "example"), example_cases(RULES))
def test_examples(rule, kind, example):
    check_example(rule, kind, example)
