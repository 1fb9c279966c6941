"""Dotted names: turning Name/Attribute chains into strings, and what torch.nn names mean."""

from __future__ import annotations

import libcst as cst


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of Name/Attribute nodes, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    parts.reverse()
    return ".".join(parts)


# torch.nn names that are not modules, although they are capitalised.
_TORCH_NN_NON_MODULES = frozenset(
    {"Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer"}
)
_TORCH_NN_NON_MODULE_PACKAGES = frozenset({"functional", "init", "utils", "parameter", "grad", "attention"})

# The commonest Module bases of well-known libraries, answered without reading the library table
# (nnlint/data/library_modules.txt, see nnlint/library.py), which knows them all.
KNOWN_MODULE_BASES = frozenset(
    {
        "torch.jit.ScriptModule",
        "torch.nn.parallel.DistributedDataParallel",
        "transformers.PreTrainedModel",
        "transformers.modeling_utils.PreTrainedModel",
        "pytorch_lightning.LightningModule",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "diffusers.ModelMixin",
        "diffusers.models.modeling_utils.ModelMixin",
    }
)


def torch_nn_layer_name(qualname: str) -> bool:
    """True for ``torch.nn.Module`` and every capitalised ``torch.nn`` name, however deep (layers
    that a newer torch adds included); no table is read."""
    parts = qualname.split(".")
    if len(parts) < 3 or parts[0] != "torch" or parts[1] != "nn":
        return False
    if parts[2] in _TORCH_NN_NON_MODULE_PACKAGES:
        return False
    last = parts[-1]
    return last[:1].isupper() and last not in _TORCH_NN_NON_MODULES


def is_torch_module_name(qualname: str) -> bool:
    """True for a Module class that nnlint knows without reading the project: ``torch.nn.Module``
    and every ``torch.nn`` layer, and the Module classes of torch, torchvision, timm, transformers,
    diffusers and lightning in the library table (``torchvision.models.ResNet``,
    ``transformers.BertModel``, ``torch.nn.modules.batchnorm._BatchNorm``)."""
    if qualname in KNOWN_MODULE_BASES or torch_nn_layer_name(qualname):
        return True
    from nnlint.library import is_library_module_class

    return is_library_module_class(qualname)
