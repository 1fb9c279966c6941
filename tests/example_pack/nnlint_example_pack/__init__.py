"""An example nnlint rule pack: the entry point in pyproject.toml names this module, and nnlint
calls its ``nnlint_rules`` hook to learn the rules it provides."""

from nnlint.plugins import hookimpl

from nnlint_example_pack.print_in_forward import PrintInForward

RULES = [PrintInForward]


@hookimpl
def nnlint_rules():
    return RULES
