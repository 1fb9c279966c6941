"""NN4xx: the training loop. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {}
