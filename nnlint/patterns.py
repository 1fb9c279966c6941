"""Small questions many rules ask about expressions: is this ``self.x``, a tensor factory,
a Module constructor, a call of a given qualified name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.names import dotted_name

if TYPE_CHECKING:
    from nnlint.context import FileContext

TENSOR_FACTORIES = frozenset(
    f"torch.{name}"
    for name in (
        "tensor as_tensor asarray from_numpy frombuffer Tensor FloatTensor DoubleTensor HalfTensor "
        "BFloat16Tensor LongTensor IntTensor ShortTensor BoolTensor ByteTensor CharTensor "
        "zeros ones empty full rand randn randint randperm arange range linspace logspace eye "
        "zeros_like ones_like empty_like full_like rand_like randn_like randint_like normal "
        "bernoulli empty_strided tril_indices triu_indices"
    ).split()
)
# Tensor methods that return a tensor again, so a factory followed by them is still a plain tensor.
TENSOR_CHAIN_METHODS = frozenset(
    "to cuda cpu float double half bfloat16 long int short bool byte char type view reshape "
    "unsqueeze squeeze expand expand_as repeat t transpose permute contiguous clone detach "
    "requires_grad_ fill_ zero_ normal_ uniform_ mul_ div_ add_ sub_ flatten flip".split()
)


def self_attribute(node: cst.BaseExpression) -> str | None:
    """``x`` for the expression ``self.x``, else None."""
    if (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    ):
        return node.attr.value
    return None


def strip_chain(node: cst.BaseExpression, methods: frozenset[str]) -> tuple[cst.BaseExpression, list[str]]:
    """Peel ``x.to(d).float()`` down to ``x``; returns the base and the peeled method names."""
    peeled: list[str] = []
    while (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in methods
    ):
        peeled.append(node.func.attr.value)
        node = node.func.value
    peeled.reverse()
    return node, peeled


def tensor_factory_call(ctx: FileContext, node: cst.BaseExpression) -> str | None:
    """The factory's qualified name when ``node`` builds a plain tensor (``torch.randn(1).cuda()``)."""
    base, _ = strip_chain(node, TENSOR_CHAIN_METHODS)
    if isinstance(base, cst.Call):
        name = ctx.qualified_name(base.func)
        if name in TENSOR_FACTORIES:
            return name
    return None


def module_class_call(ctx: FileContext, node: cst.BaseExpression) -> str | None:
    """The class name when ``node`` constructs a Module (``nn.Linear(2, 2)``, ``Net()``)."""
    if not isinstance(node, cst.Call):
        return None
    name = ctx.qualified_name(node.func)
    if name is None or not name.rpartition(".")[2][:1].isupper():
        return None
    return name if ctx.is_module_class_name(name) else None


def is_call_to(node: cst.CSTNode, ctx: FileContext, qualnames: frozenset[str]) -> bool:
    return isinstance(node, cst.Call) and ctx.qualified_name(node.func) in qualnames


def method_call(node: cst.CSTNode) -> tuple[cst.BaseExpression, str] | None:
    """(receiver, method) for ``receiver.method(...)``."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        return node.func.value, node.func.attr.value
    return None


def receiver_key(node: cst.BaseExpression) -> str | None:
    """A stable key for a variable-like expression: ``model``, ``self.model``, ``a.b.c``."""
    return dotted_name(node)


def keyword(node: cst.Call, name: str) -> cst.Arg | None:
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None
