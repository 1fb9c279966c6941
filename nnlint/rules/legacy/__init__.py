"""NN8xx: deprecated, removed and legacy torch APIs. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN801": ("removed-torch-api", True, "nnlint.rules.legacy.removed_torch_api:RemovedTorchApi"),
    "NN802": ("deprecated-torch-api", True, "nnlint.rules.legacy.deprecated_torch_api:DeprecatedTorchApi"),
    "NN803": (
        "checkpoint-use-reentrant-implicit",
        True,
        "nnlint.rules.legacy.checkpoint_use_reentrant_implicit:CheckpointUseReentrantImplicit",
    ),
    "NN804": (
        "torchvision-pretrained-argument",
        True,
        "nnlint.rules.legacy.torchvision_pretrained_argument:TorchvisionPretrainedArgument",
    ),
    "NN805": ("nonpublic-torch-api", True, "nnlint.rules.legacy.nonpublic_torch_api:NonpublicTorchApi"),
    "NN806": (
        "legacy-data-attribute",
        False,  # off by default (RULES.md): mostly harmless legacy style; NN502 has the harmful writes
        "nnlint.rules.legacy.legacy_data_attribute:LegacyDataAttribute",
    ),
    "NN807": (
        "torchvision-deprecated-transform",
        False,  # off by default: on application code its TOR203 half is style only (bench/precision/nn8xx.md)
        "nnlint.rules.legacy.torchvision_deprecated_transform:TorchvisionDeprecatedTransform",
    ),
    "NN808": ("numerically-unstable-op", True, "nnlint.rules.legacy.numerically_unstable_op:NumericallyUnstableOp"),
    "NN809": (
        "dataloader-synchronous",
        False,  # off by default (RULES.md): synchronous loading is often right (small data, tests)
        "nnlint.rules.legacy.dataloader_synchronous:DataloaderSynchronous",
    ),
}
