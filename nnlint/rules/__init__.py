"""Built-in rules, one per file, grouped by family.

The table below lets nnlint select rules by code, name or prefix without importing the rule
modules it does not run (startup time matters for one-file pre-commit runs). A test checks that
each entry matches the class it points to.
"""

from __future__ import annotations

import importlib

from nnlint.rule import Rule

# code -> (name, default enabled, "module:Class")
BUILTIN: dict[str, tuple[str, bool, str]] = {
    "NN101": ("super-wrong-class", True, "nnlint.rules.module.super_wrong_class:SuperWrongClass"),
    "NN102": ("missing-super-init", True, "nnlint.rules.module.missing_super_init:MissingSuperInit"),
    "NN103": (
        "tensor-attribute-not-registered",
        True,
        "nnlint.rules.module.tensor_attribute_not_registered:TensorAttributeNotRegistered",
    ),
    "NN201": (
        "missing-eval-before-inference",
        True,
        "nnlint.rules.mode.missing_eval_before_inference:MissingEvalBeforeInference",
    ),
    "NN301": (
        "state-dict-snapshot-alias",
        True,
        "nnlint.rules.checkpoint.state_dict_snapshot_alias:StateDictSnapshotAlias",
    ),
}


def load_builtin(code: str) -> type[Rule]:
    module_name, _, class_name = BUILTIN[code][2].partition(":")
    rule = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(rule, type) and issubclass(rule, Rule)
    return rule
