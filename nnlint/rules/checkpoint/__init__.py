"""NN3xx: checkpoints and state. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN301": (
        "state-dict-snapshot-alias",
        True,
        "nnlint.rules.checkpoint.state_dict_snapshot_alias:StateDictSnapshotAlias",
    ),
    "NN302": (
        "torch-load-without-weights-only",
        False,  # off by default: noise where torch >= 2.6 is required (bench/precision/mode_checkpoint.md)
        "nnlint.rules.checkpoint.torch_load_without_weights_only:TorchLoadWithoutWeightsOnly",
    ),
    "NN303": (
        "load-state-dict-strict-false-unchecked",
        True,
        "nnlint.rules.checkpoint.load_state_dict_strict_false_unchecked:LoadStateDictStrictFalseUnchecked",
    ),
    "NN304": (
        "save-whole-model",
        True,
        "nnlint.rules.checkpoint.save_whole_model:SaveWholeModel",
    ),
}
