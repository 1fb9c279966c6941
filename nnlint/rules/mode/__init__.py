"""NN2xx: train / eval mode. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN201": (
        "missing-eval-before-inference",
        True,
        "nnlint.rules.mode.missing_eval_before_inference:MissingEvalBeforeInference",
    ),
}
