"""NN3xx: checkpoints and state. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN301": (
        "state-dict-snapshot-alias",
        True,
        "nnlint.rules.checkpoint.state_dict_snapshot_alias:StateDictSnapshotAlias",
    ),
}
