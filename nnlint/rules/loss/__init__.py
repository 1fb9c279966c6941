"""NN6xx: losses and activations. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {}
