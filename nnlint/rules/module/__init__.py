"""NN1xx: defining a module. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN101": ("super-wrong-class", True, "nnlint.rules.module.super_wrong_class:SuperWrongClass"),
    "NN102": ("missing-super-init", True, "nnlint.rules.module.missing_super_init:MissingSuperInit"),
    "NN103": (
        "tensor-attribute-not-registered",
        True,
        "nnlint.rules.module.tensor_attribute_not_registered:TensorAttributeNotRegistered",
    ),
    "NN104": (
        "module-in-python-container",
        True,
        "nnlint.rules.module.module_in_python_container:ModuleInPythonContainer",
    ),
    "NN105": (
        "parameter-in-python-container",
        True,
        "nnlint.rules.module.parameter_in_python_container:ParameterInPythonContainer",
    ),
    "NN106": (
        "parameter-moved-after-wrap",
        True,
        "nnlint.rules.module.parameter_moved_after_wrap:ParameterMovedAfterWrap",
    ),
    "NN107": (
        "layer-constructed-in-forward",
        True,
        "nnlint.rules.module.layer_constructed_in_forward:LayerConstructedInForward",
    ),
    "NN108": ("forward-name-typo", True, "nnlint.rules.module.forward_name_typo:ForwardNameTypo"),
    "NN109": ("requires-grad-typo", True, "nnlint.rules.module.requires_grad_typo:RequiresGradTypo"),
    "NN110": (
        "module-requires-grad-attribute",
        True,
        "nnlint.rules.module.module_requires_grad_attribute:ModuleRequiresGradAttribute",
    ),
}
