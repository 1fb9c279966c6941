"""NN7xx: mixed precision and distributed training. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN703": (
        "backward-inside-autocast",
        True,
        "nnlint.rules.distributed.backward_inside_autocast:BackwardInsideAutocast",
    ),
}
