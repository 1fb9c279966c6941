"""NN2xx: train / eval mode. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN201": (
        "missing-eval-before-inference",
        True,
        "nnlint.rules.mode.missing_eval_before_inference:MissingEvalBeforeInference",
    ),
    "NN202": (
        "functional-dropout-ignores-mode",
        True,
        "nnlint.rules.mode.functional_dropout_ignores_mode:FunctionalDropoutIgnoresMode",
    ),
    "NN203": (
        "eval-not-restored-to-train",
        True,
        "nnlint.rules.mode.eval_not_restored_to_train:EvalNotRestoredToTrain",
    ),
    "NN204": (
        "mode-method-not-called",
        True,
        "nnlint.rules.mode.mode_method_not_called:ModeMethodNotCalled",
    ),
    "NN205": (
        "manual-training-flag",
        True,
        "nnlint.rules.mode.manual_training_flag:ManualTrainingFlag",
    ),
    "NN206": (
        "forward-called-directly",
        False,  # off by default: tests call `.forward()` on purpose; 0 of 8 true on application code
        "nnlint.rules.mode.forward_called_directly:ForwardCalledDirectly",
    ),
}
