"""The static rules a runtime failure points to (codes and names as in RULES.md).

Kept as a small local table so that the plugin does not import the linter to phrase a message.
"""

from __future__ import annotations

RULE_NAMES: dict[str, str] = {
    "NN103": "tensor-attribute-not-registered",
    "NN104": "module-in-python-container",
    "NN105": "parameter-in-python-container",
    "NN106": "parameter-moved-after-wrap",
    "NN110": "module-requires-grad-attribute",
    "NN202": "functional-dropout-ignores-mode",
    "NN205": "manual-training-flag",
    "NN301": "state-dict-snapshot-alias",
    "NN302": "torch-load-without-weights-only",
}


def rule_label(code: str) -> str:
    """`NN104 module-in-python-container`, or the bare code if it is not in the table."""
    name = RULE_NAMES.get(code)
    return f"{code} {name}" if name else code
