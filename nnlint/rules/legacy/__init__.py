"""NN8xx: deprecated, removed and legacy torch APIs. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {}
