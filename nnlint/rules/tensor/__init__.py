"""NN5xx: tensors and devices. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN501": (
        "tensor-op-result-discarded",
        True,
        "nnlint.rules.tensor.tensor_op_result_discarded:TensorOpResultDiscarded",
    ),
    "NN502": ("data-attribute-mutation", True, "nnlint.rules.tensor.data_attribute_mutation:DataAttributeMutation"),
    "NN503": ("variable-volatile", True, "nnlint.rules.tensor.variable_volatile:VariableVolatile"),
}
