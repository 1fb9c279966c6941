"""NN8xx: deprecated, removed and legacy torch APIs. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN801": ("removed-torch-api", True, "nnlint.rules.legacy.removed_torch_api:RemovedTorchApi"),
    "NN802": ("deprecated-torch-api", True, "nnlint.rules.legacy.deprecated_torch_api:DeprecatedTorchApi"),
    "NN805": ("nonpublic-torch-api", True, "nnlint.rules.legacy.nonpublic_torch_api:NonpublicTorchApi"),
}
