"""NN5xx: tensors and devices. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {}
