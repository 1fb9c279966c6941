"""Small questions many rules ask about expressions: is this ``self.x``, a tensor factory,
a Module constructor, a call of a given qualified name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.names import dotted_name

if TYPE_CHECKING:
    from nnlint.context import FileContext
    from nnlint.semantic import ClassInfo

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
    return ctx.module_class_of_call(node)


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


def torch_nn_spelling(ctx: FileContext, member: str) -> tuple[str, tuple[str, ...]]:
    """How this file can write ``torch.nn.<member>`` (``nn.ModuleList``), and the import a fix
    must add when the file has no name for it."""
    aliases = ctx.facts.aliases
    wanted = {f"torch.nn.{member}": "{}", "torch.nn": "{}." + member, "torch": "{}.nn." + member}
    for target, template in wanted.items():
        for local, qualname in aliases.items():
            if qualname == target:
                return template.format(local), ()
    return f"torch.nn.{member}", ("import torch",)


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) turning ``a`` into ``b``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


# Module methods that return the module itself, so `Net().to(device)` still holds a Net.
MODULE_RETURNING_METHODS = frozenset(
    "to cuda cpu float double half bfloat16 train eval requires_grad_ type share_memory to_empty".split()
)


def module_construction(ctx: FileContext, node: cst.BaseExpression) -> str | None:
    """The class name when ``node`` builds a Module, possibly moved or switched on the way
    (``Net().to(device)``, ``nn.Linear(2, 2).cuda().eval()``)."""
    base, _ = strip_chain(node, MODULE_RETURNING_METHODS)
    return module_class_call(ctx, base)


def keyword_appended(ctx: FileContext, call: cst.Call, text: str) -> tuple[cst.CSTNode, str] | None:
    """A replacement that adds ``text`` (``training=self.training``) as the call's last argument:
    (node to replace, new source). None for a call without arguments (nothing to anchor on)."""
    if not call.args:
        return None
    last = call.args[-1]
    bare = last.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace(""))
    return last, f"{ctx.module.code_for_node(bare)}, {text}"


# PyTorch Lightning's LightningModule, under every name the packages export it as.
LIGHTNING_MODULES = frozenset(
    {
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
        "pytorch_lightning.core.module.LightningModule",
        "pytorch_lightning.core.lightning.LightningModule",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "lightning.pytorch.core.LightningModule",
        "lightning.pytorch.core.module.LightningModule",
    }
)


def derives_from(ctx: FileContext, info: ClassInfo, qualnames: frozenset[str]) -> bool:
    """Whether ``info`` has one of ``qualnames`` among its bases, directly or through classes of
    the same file (as far as the file shows)."""
    seen: set[str] = set()
    pending = [info]
    while pending:
        current = pending.pop()
        if current.qualname in seen:
            continue
        seen.add(current.qualname)
        for base in current.bases:
            if base in qualnames:
                return True
            local = ctx.facts.classes.get(base.rpartition(".")[2])
            if local is not None and local.qualname == base:
                pending.append(local)
    return False


def same_file_relatives(ctx: FileContext, info: ClassInfo) -> list[ClassInfo]:
    """``info``, its ancestors and its descendants among the classes of the same file: the classes
    whose methods can see the same ``self`` attributes."""
    classes = list(ctx.facts.class_of_node.values())

    def parents(current: ClassInfo) -> list[ClassInfo]:
        found = []
        for base in current.bases:
            local = ctx.facts.classes.get(base.rpartition(".")[2])
            if local is not None and local.qualname == base:
                found.append(local)
        return found

    ancestors: dict[str, ClassInfo] = {}
    pending = [info]
    while pending:
        current = pending.pop()
        if current.qualname not in ancestors:
            ancestors[current.qualname] = current
            pending.extend(parents(current))
    descendants: dict[str, ClassInfo] = {info.qualname: info}
    changed = True
    while changed:  # to any depth
        changed = False
        for candidate in classes:
            if candidate.qualname not in descendants and any(p.qualname in descendants for p in parents(candidate)):
                descendants[candidate.qualname] = candidate
                changed = True
    return list({**ancestors, **descendants}.values())


def suite_statements(suite: cst.BaseSuite) -> list[cst.CSTNode]:
    """The statements of a block; a one-line block (`if c: x = 1`) is one line-like statement
    (its small statements are in ``.body``, as for a SimpleStatementLine)."""
    return list(suite.body) if isinstance(suite, cst.IndentedBlock) else [suite]


def inner_blocks(stmt: cst.CSTNode) -> list[list[cst.CSTNode]]:
    """The statement lists directly inside a compound statement: body, else / elif (an `elif` is
    a list of one If), except handlers, finally, match cases."""
    found: list[list[cst.CSTNode]] = []
    body = getattr(stmt, "body", None)
    if isinstance(body, cst.BaseSuite):
        found.append(suite_statements(body))
    orelse = getattr(stmt, "orelse", None)
    if isinstance(orelse, cst.If):
        found.append([orelse])
    elif isinstance(orelse, cst.Else):
        found.append(suite_statements(orelse.body))
    for handler in getattr(stmt, "handlers", ()) or ():
        found.append(suite_statements(handler.body))
    final = getattr(stmt, "finalbody", None)
    if isinstance(final, cst.Finally):
        found.append(suite_statements(final.body))
    for case in getattr(stmt, "cases", ()) or ():
        found.append(suite_statements(case.body))
    return found
