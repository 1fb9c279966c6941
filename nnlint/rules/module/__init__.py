"""NN1xx: defining a module. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN101": ("super-wrong-class", True, "nnlint.rules.module.super_wrong_class:SuperWrongClass"),
    "NN102": ("missing-super-init", True, "nnlint.rules.module.missing_super_init:MissingSuperInit"),
    "NN103": (
        "tensor-attribute-not-registered",
        True,
        "nnlint.rules.module.tensor_attribute_not_registered:TensorAttributeNotRegistered",
    ),
}
