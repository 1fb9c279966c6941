"""Built-in rules, one per file, grouped by family (one sub-package per hundreds digit).

Each family's ``__init__`` lists its rules as code -> (name, on by default, "module:Class"), so
nnlint can select rules by code, name or prefix without importing the rule modules it does not
run (startup time matters for one-file pre-commit runs). A test checks every entry against the
class it points to.
"""

from __future__ import annotations

import importlib

from nnlint.rule import Rule
from nnlint.rules import checkpoint, distributed, legacy, loop, loss, mode, module, tensor

BUILTIN: dict[str, tuple[str, bool, str]] = {
    **module.RULES,
    **mode.RULES,
    **checkpoint.RULES,
    **loop.RULES,
    **tensor.RULES,
    **loss.RULES,
    **distributed.RULES,
    **legacy.RULES,
}


def load_builtin(code: str) -> type[Rule]:
    module_name, _, class_name = BUILTIN[code][2].partition(":")
    rule = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(rule, type) and issubclass(rule, Rule)):
        raise TypeError(f"{BUILTIN[code][2]} is not a Rule")
    return rule
