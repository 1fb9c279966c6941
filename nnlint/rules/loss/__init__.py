"""NN6xx: losses and activations. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN601": (
        "softmax-before-cross-entropy",
        True,
        "nnlint.rules.loss.softmax_before_cross_entropy:SoftmaxBeforeCrossEntropy",
    ),
    "NN602": (
        "sigmoid-before-bce-with-logits",
        True,
        "nnlint.rules.loss.sigmoid_before_bce_with_logits:SigmoidBeforeBceWithLogits",
    ),
    "NN603": (
        "nll-loss-without-log-softmax",
        True,
        "nnlint.rules.loss.nll_loss_without_log_softmax:NllLossWithoutLogSoftmax",
    ),
    "NN604": ("softmax-implicit-dim", True, "nnlint.rules.loss.softmax_implicit_dim:SoftmaxImplicitDim"),
}
