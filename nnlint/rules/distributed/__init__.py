"""NN7xx: mixed precision and distributed training. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {}
