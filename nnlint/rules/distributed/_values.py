"""What a name holds, for the NN7xx rules: a GradScaler (and whether it is switched off), an
autocast context, a DistributedSampler, a DataLoader drawing from one, a DDP / DataParallel
wrapper.

Values come from constructors resolved through the file's imports (``GradScaler`` however it was
imported, ``DDP`` as an alias of ``DistributedDataParallel``), followed through plain aliases
(``scaler = self.scaler``) and conditional expressions (``DDP(m) if distributed else m``: the
name *may* hold the wrapper, which is what the bug needs). Where a name is looked up:

- its assignments in the function being analysed;
- for ``self.x``: the assignments of every method of the class (``__init__`` included);
- for a plain name the function neither assigns nor takes as a parameter: the module-level script
  code (``if __name__ == "__main__":`` blocks are module-level code);
- a parameter's annotation (``scaler: GradScaler``).

Policy for what none of these shows: only a GradScaler may be known by its name alone
(``scaler``, ``grad_scaler``, ``self.loss_scaler``: ``kind_by_name`` of the loop rules), and only
when no assignment builds it from a class nnlint does not know (timm's ``NativeScaler`` and MAE's
``NativeScalerWithGradNormCount`` are callables with another API). Samplers, loaders and wrappers
must be seen being built: the rules about them stay silent otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import libcst as cst

from nnlint import walker

from nnlint.flow import AssignEvent, CallEvent, FunctionFlow, flows_by_name, methods_of
from nnlint.modes import bind_arguments
from nnlint.names import dotted_name
from nnlint.patterns import keyword, same_file_relatives
from nnlint.rules.loop._steps import SCALER, kind_by_name

if TYPE_CHECKING:
    from nnlint.context import FileContext

AUTOCAST, SAMPLER, LOADER, WRAPPER = "autocast", "distributed-sampler", "data-loader", "ddp-wrapper"

SCALER_CLASSES = frozenset(
    {
        "torch.GradScaler",
        "torch.amp.GradScaler",
        "torch.amp.grad_scaler.GradScaler",
        "torch.cuda.amp.GradScaler",
        "torch.cuda.amp.grad_scaler.GradScaler",
        "torch.cpu.amp.GradScaler",
        "torch.cpu.amp.grad_scaler.GradScaler",
        "torch.distributed.fsdp.sharded_grad_scaler.ShardedGradScaler",
    }
)
AUTOCAST_CONTEXTS = frozenset(
    {
        "torch.autocast",
        "torch.amp.autocast",
        "torch.amp.autocast_mode.autocast",
        "torch.cuda.amp.autocast",
        "torch.cuda.amp.autocast_mode.autocast",
        "torch.cpu.amp.autocast",
        "torch.cpu.amp.autocast_mode.autocast",
    }
)
SAMPLER_CLASSES = frozenset(
    {
        "torch.utils.data.DistributedSampler",
        "torch.utils.data.distributed.DistributedSampler",
    }
)
LOADER_CLASSES = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
# Wrappers that iterate the DataLoader given as their first argument and never set a sampler's
# epoch (torch_xla's device loaders: pytorch/xla#2029): what they return draws from that loader.
LOADER_WRAPPERS = frozenset(
    {
        "torch_xla.distributed.parallel_loader.ParallelLoader",
        "torch_xla.distributed.parallel_loader.MpDeviceLoader",
    }
)
WRAPPER_CLASSES = frozenset(
    {
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.data_parallel.DataParallel",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.distributed.DistributedDataParallel",
        "apex.parallel.DistributedDataParallel",  # also keeps the model as `.module`
    }
)
_KIND_OF_CLASS = {
    **dict.fromkeys(SCALER_CLASSES, SCALER),
    **dict.fromkeys(AUTOCAST_CONTEXTS, AUTOCAST),
    **dict.fromkeys(SAMPLER_CLASSES, SAMPLER),
    **dict.fromkeys(LOADER_CLASSES, LOADER),
    **dict.fromkeys(WRAPPER_CLASSES, WRAPPER),
}
# Methods that return the object they are called on (`DDP(model).cuda()` is still the wrapper).
_SELF_RETURNING = frozenset({"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "train", "eval"})

ON, OFF = "on", "off"  # a scaler's state: scaling, or built with a literal `enabled=False`


@dataclass(frozen=True)
class Held:
    """One construction a name may hold: the kind, and the constructing call."""

    kind: str
    call: cst.Call


def _literal_false(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


def _strip_self_returning(node: cst.BaseExpression) -> cst.BaseExpression:
    while (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in _SELF_RETURNING
        and isinstance(node.func.value, cst.Call)
    ):
        node = node.func.value
    return node


class Values:
    """Per file: what names hold (see the module docstring). Shared by the NN7xx rules."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self._memo: dict[tuple[int, str], tuple[Held, ...]] = {}
        self._assignments: dict[int, dict[str, list[tuple[int, Any]]]] = {}
        self._params: dict[int, set[str]] = {}
        self._functions: dict[str, FunctionFlow] | None = None

    # -- expressions -------------------------------------------------------------------------

    def kind_of_call(self, node: cst.BaseExpression) -> tuple[str, cst.Call] | None:
        """(kind, call) when ``node`` builds one of the values this module knows."""
        node = _strip_self_returning(node)
        if not isinstance(node, cst.Call):
            return None
        name = self.ctx.qualified_name(node.func)
        kind = _KIND_OF_CLASS.get(name or "")
        return (kind, node) if kind is not None else None

    def held_by_expression(self, flow: FunctionFlow, node: cst.BaseExpression, depth: int = 0) -> tuple[Held, ...]:
        """What an expression may evaluate to: a construction, a name holding one, either arm
        of a conditional expression."""
        if depth > 8:
            return ()
        if isinstance(node, _Element):
            return self._element(flow, node, depth + 1)
        if isinstance(node, cst.IfExp):
            if _unwraps(node):
                return ()
            return self.held_by_expression(flow, node.body, depth + 1) + self.held_by_expression(flow, node.orelse, depth + 1)
        found = self.kind_of_call(node)
        if found is not None:
            return (Held(*found),)
        wrapped = self.wrapped_loader(node)
        if wrapped is not None:
            return tuple(h for h in self.held_by_expression(flow, wrapped, depth + 1) if h.kind == LOADER)
        key = value_key(node)
        if key is not None:
            return self.holds(flow, key, depth + 1)
        helper = self._helper(flow, node)
        if helper is not None:
            # `loader = build_loader(args)`: what the same-file function returns.
            return tuple(h for value in _returns(helper) for h in self.held_by_expression(helper, value, depth + 1))
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            # `sampler_cls = RandomSampler if single else DistributedSampler; sampler_cls(ds)`.
            return self._aliased_class_call(flow, node)
        return ()

    def wrapped_loader(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        """The loader argument of a known wrapper that never sets the epoch
        (`pl.MpDeviceLoader(loader, device)`, `pl.ParallelLoader(loader, [device])` and its
        `.per_device_loader(device)`), else None."""
        if not isinstance(node, cst.Call):
            return None
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "per_device_loader":
            return node.func.value
        if self.ctx.qualified_name(node.func) in LOADER_WRAPPERS:
            positional = [a for a in node.args if a.keyword is None and not a.star]
            if positional:
                return positional[0].value
            found = keyword(node, "loader")
            return found.value if found is not None else None
        return None

    def _aliased_class_call(self, flow: FunctionFlow, call: cst.Call) -> tuple[Held, ...]:
        """A call through a name bound to a known class (either arm of a conditional)."""
        assert isinstance(call.func, cst.Name)
        found: list[Held] = []
        for _, value in self.assigned_values(flow, call.func.value):
            for ref in _class_refs(value):
                kind = _KIND_OF_CLASS.get(self.ctx.qualified_name(ref) or "")
                if kind is not None:
                    found.append(Held(kind, call))
        return tuple(found)

    def _helper(self, flow: FunctionFlow, node: cst.BaseExpression) -> FunctionFlow | None:
        """The same-file function a call runs: `build(...)`, or `self.build(...)` in a method."""
        if not isinstance(node, cst.Call):
            return None
        if isinstance(node.func, cst.Name):
            if self._functions is None:
                self._functions = flows_by_name(self.ctx)
            return self._functions.get(node.func.value)
        func = node.func
        if isinstance(func, cst.Attribute) and dotted_name(func.value) == "self" and flow.owner is not None:
            return methods_of(self.ctx, flow.owner).get(func.attr.value)
        return None

    def _element(self, flow: FunctionFlow, element: _Element, depth: int) -> tuple[Held, ...]:
        """Element ``position`` of a tuple value: a literal's element, or that element of what a
        same-file function returns (`train_loader, sampler = build_loaders(args)`)."""
        value = element.value
        if isinstance(value, (cst.Tuple, cst.List)):
            items = value.elements
            if element.position < len(items) and not isinstance(items[element.position], cst.StarredElement):
                return self.held_by_expression(flow, items[element.position].value, depth)
            return ()
        helper = self._helper(flow, value)
        if helper is None:
            return ()
        found: list[Held] = []
        for returned in _returns(helper):
            found.extend(self._element(helper, _Element(returned, element.position), depth + 1))
        return tuple(found)

    # -- names -------------------------------------------------------------------------------

    def holds(self, flow: FunctionFlow, key: str, depth: int = 0) -> tuple[Held, ...]:
        """Every construction ``key`` may hold in ``flow`` (empty: nothing known)."""
        memo = (id(flow.node), key)
        if memo in self._memo:
            return self._memo[memo]
        self._memo[memo] = ()  # guards `a = b; b = a`
        found: list[Held] = []
        for source_flow, value in self.assigned_values(flow, key):
            if value is not None:
                found.extend(self.held_by_expression(source_flow, value, depth))
        if not found and key in self.params(flow) and key not in self.assignments(flow):
            found.extend(self._passed_in(flow, key, depth))
        if not found and key.endswith("]"):
            found.extend(self._item_of_held_dict(flow, key, depth))
        result = tuple(found)
        self._memo[memo] = result
        return result

    def _item_of_held_dict(self, flow: FunctionFlow, key: str, depth: int) -> Iterator[Held]:
        """`loaders["train"]` when no item assignment says: the `"train"` entry of a dict literal
        (or `dict(train=...)`) that ``loaders`` was bound to; through a plain alias (`self.loaders
        = loaders`), or what the same-file callers pass when ``loaders`` is a parameter."""
        if depth > 8:
            return
        base, _, index = key[:-1].rpartition("[")
        item = _string_value(index)
        if not base or item is None:
            return
        for source, value in self.assigned_values(flow, base):
            value = _literal_element(value)
            entry = _dict_entry(value, item) if value is not None else None
            if entry is not None:
                yield from self.held_by_expression(source, entry, depth + 1)
                continue
            alias = value_key(value) if value is not None else None
            if alias is not None:
                yield from self.holds(source, f"{alias}[{index}]", depth + 1)
        if base in self.params(flow) and base not in self.assignments(flow):
            for caller, passed in self._passed_names(flow, base, depth):
                yield from self.holds(caller, f"{passed}[{index}]", depth + 1)

    def _passed_in(self, flow: FunctionFlow, param: str, depth: int) -> Iterator[Held]:
        """What the same-file callers of ``flow`` pass as ``param`` (`run_epoch(model, loader,
        opt, grad_scaler)` for `def run_epoch(model, loader, optimizer, amp)`)."""
        for caller, passed in self._passed_names(flow, param, depth):
            yield from self.holds(caller, passed, depth + 1)

    def _passed_names(self, flow: FunctionFlow, param: str, depth: int) -> Iterator[tuple[FunctionFlow, str]]:
        """(caller, the name it passes as ``param``) for every same-file call of ``flow``."""
        if depth > 4 or not isinstance(flow.node, cst.FunctionDef):
            return
        params = list(flow.params)
        if flow.owner is not None and params[:1] == ["self"]:
            params = params[1:]
        for caller in self.ctx.flows:
            for event in caller.calls():
                if not self._calls_flow(caller, event, flow):
                    continue
                passed = bind_arguments(params, event).get(param)
                if passed is not None:
                    yield caller, passed

    def _calls_flow(self, caller: FunctionFlow, event: CallEvent, callee: FunctionFlow) -> bool:
        """`helper(...)` for a module-level function, `self.method(...)` for a method of the
        caller's class."""
        if callee.owner is None:
            if self._functions is None:
                self._functions = flows_by_name(self.ctx)
            return event.func == callee.name and self._functions.get(callee.name) is callee
        if callee.name == "__init__" and event.func == callee.owner.name:
            # `Trainer(loader, ...)` runs `Trainer.__init__` (a module-level class of this file).
            return self.ctx.facts.classes.get(callee.owner.name) is callee.owner
        return event.receiver == "self" and event.method == callee.name and caller.owner is callee.owner

    def assigned_values(self, flow: FunctionFlow, key: str) -> Iterator[tuple[FunctionFlow, cst.BaseExpression | None]]:
        """(flow, value) of every assignment to ``key`` that ``flow`` can see."""
        for source in self.sources(flow, key):
            for _, value in self.assignments(source).get(key, ()):
                yield source, value

    def sources(self, flow: FunctionFlow, key: str) -> list[FunctionFlow]:
        """The flows whose assignments to ``key`` are visible in ``flow``."""
        module_flow = self.ctx.flows[0]
        if key.startswith("self.") and flow.owner is not None:
            return [m for owner in same_file_relatives(self.ctx, flow.owner) for m in methods_of(self.ctx, owner).values()]
        head = key_head(key)
        if flow is module_flow:
            return [module_flow]
        if head in self.assignments(flow) or head in self.params(flow):
            return [flow]
        return [module_flow]

    def assignments(self, flow: FunctionFlow) -> dict[str, list[tuple[int, cst.BaseExpression | None]]]:
        """Dotted target -> [(event index, value)] in ``flow`` (tuple targets get no value)."""
        key = id(flow.node)
        table = self._assignments.get(key)
        if table is None:
            table = {}
            for index, event in enumerate(flow.events):
                if isinstance(event, AssignEvent):
                    single = len(event.targets) == 1 and not isinstance(event.node, cst.AugAssign)
                    for target in event.targets:
                        table.setdefault(target, []).append((index, event.value if single else None))
            for name, value in _tuple_targets(flow):
                table.setdefault(name, []).append((-1, value))
            self._assignments[key] = table
        return table

    def params(self, flow: FunctionFlow) -> set[str]:
        key = id(flow.node)
        names = self._params.get(key)
        if names is None:
            names = set()
            if isinstance(flow.node, cst.FunctionDef):
                params = flow.node.params
                names = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
            self._params[key] = names
        return names

    def annotation(self, flow: FunctionFlow, key: str) -> str | None:
        if not isinstance(flow.node, cst.FunctionDef):
            return None
        params = flow.node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.name.value == key and param.annotation is not None:
                return self.ctx.qualified_name(param.annotation.annotation)
        return None

    def value_at(self, flow: FunctionFlow, key: str, event_index: int, depth: int = 0) -> tuple[Held, ...] | None:
        """What a local ``key`` holds at ``flow.events[event_index]``: its last assignment before
        that point decides, aliases followed to their own point (`raw = model` taken before
        `model = DDP(model)` is the bare model). Empty for a parameter not yet reassigned; None
        when ``key`` is not local to ``flow`` (see :meth:`holds`)."""
        local = key in self.assignments(flow) or key_head(key) in self.params(flow)
        if key.startswith("self.") or not local or depth > 8:
            return None
        before = [(index, value) for index, value in self.assignments(flow).get(key, ()) if index < event_index]
        if not before:
            return ()
        index, last = before[-1]
        if last is None:
            return ()
        return self._held_at(flow, last, index, depth + 1)

    def _held_at(self, flow: FunctionFlow, node: cst.BaseExpression, index: int, depth: int) -> tuple[Held, ...]:
        if isinstance(node, _Element) or self._helper(flow, node) is not None:
            return self.held_by_expression(flow, node, depth)
        if isinstance(node, cst.IfExp):
            if _unwraps(node):
                return ()
            return self._held_at(flow, node.body, index, depth) + self._held_at(flow, node.orelse, index, depth)
        found = self.kind_of_call(node)
        if found is not None:
            return (Held(*found),)
        key = value_key(node)
        if key is None:
            return ()
        local = self.value_at(flow, key, index, depth)
        return local if local is not None else self.holds(flow, key)

    # -- GradScaler --------------------------------------------------------------------------

    def scaler_state(self, flow: FunctionFlow, key: str) -> str | None:
        """ON when ``key`` holds a GradScaler that may scale, OFF when every construction of it
        passes a literal `enabled=False`, None when it is not known to be a GradScaler."""
        held = [h for h in self.holds(flow, key) if h.kind == SCALER]
        if held:
            off = all(_literal_false(_enabled(h.call)) for h in held)
            return OFF if off else ON
        annotation = self.annotation(flow, key)
        if annotation is not None:
            return ON if annotation in SCALER_CLASSES else None
        if kind_by_name(key) != SCALER:
            return None
        # Known by name only: not when some visible assignment builds it from another class.
        for source, value in self.assigned_values(flow, key):
            if value is None:
                continue
            inner = value.body if isinstance(value, cst.IfExp) else value
            if isinstance(_strip_self_returning(inner), cst.Call):
                return None
        return ON

    # -- DistributedSampler / DataLoader -----------------------------------------------------

    def distributed_sampler(self, flow: FunctionFlow, node: cst.BaseExpression) -> cst.Call | None:
        """The `DistributedSampler(...)` call ``node`` may hold when it shuffles (not built with a
        literal `shuffle=False`), else None."""
        for held in self.held_by_expression(flow, node):
            if held.kind == SAMPLER:
                shuffle = keyword(held.call, "shuffle")
                if shuffle is None or not _literal_false(shuffle.value):
                    return held.call
        return None

    def loader_sampler(self, flow: FunctionFlow, node: cst.BaseExpression) -> tuple[cst.Call, str | None] | None:
        """For a DataLoader built in ``node`` (or a DistributedSampler itself): the shuffling
        DistributedSampler it draws from and the name the sampler was bound to, when visible."""
        return self._sampler_of(flow, self.held_by_expression(flow, node))

    def loader_sampler_of(self, flow: FunctionFlow, key: str) -> tuple[cst.Call, str | None] | None:
        """The same for the loader a name holds (`train_loader`, `self.loader`)."""
        return self._sampler_of(flow, self.holds(flow, key))

    def loader_sampler_at(self, flow: FunctionFlow, key: str, event_index: int) -> tuple[cst.Call, str | None] | None:
        """The same at ``flow.events[event_index]``: a local name's last assignment before that
        point; a parameter not yet reassigned holds what the same-file callers pass
        (`loader = sample_data(loader)` still hands the caller's DataLoader to `sample_data`)."""
        event = flow.events[event_index]
        for index in range(event_index - 1, -1, -1):
            # The assignment that stores this very call is recorded before it: not yet done.
            earlier = flow.events[index]
            if isinstance(earlier, AssignEvent) and isinstance(event, CallEvent) and earlier.value is event.node:
                event_index = index
                break
        local = self.value_at(flow, key, event_index)
        if local is None:
            return self.loader_sampler_of(flow, key)
        if not local and key in self.params(flow):
            if not any(index < event_index for index, _ in self.assignments(flow).get(key, ())):
                local = tuple(self._passed_in(flow, key, 0))
        return self._sampler_of(flow, local)

    def _sampler_of(self, flow: FunctionFlow, held: Iterable[Held]) -> tuple[cst.Call, str | None] | None:
        for item in held:
            if item.kind != LOADER:
                continue
            sampler = keyword(item.call, "sampler")
            if sampler is None:
                continue
            origin = self._flow_of_call(flow, item.call)
            found = self.distributed_sampler(origin, sampler.value)
            if found is not None:
                return found, value_key(sampler.value)
        return None

    def _flow_of_call(self, flow: FunctionFlow, call: cst.Call) -> FunctionFlow:
        """The flow whose code contains ``call`` (so the sampler's name is looked up there)."""
        for candidate in (flow, *self.ctx.flows):
            if any(isinstance(e, CallEvent) and e.node is call for e in candidate.events):
                return candidate
        return flow

    # -- DDP / DataParallel ------------------------------------------------------------------

    def is_wrapper(self, flow: FunctionFlow, key: str, event_index: int | None = None) -> bool:
        """Whether ``key`` may hold a DDP / DataParallel wrapper (at ``flow.events[event_index]``
        for a local name, when given)."""
        if event_index is not None:
            local = self.value_at(flow, key, event_index)
            if local is not None:
                return any(h.kind == WRAPPER for h in local)
        return any(h.kind == WRAPPER for h in self.holds(flow, key))


def value_key(node: cst.BaseExpression) -> str | None:
    """How the value rules name an expression: a dotted name (`self.loader`), or an item of one
    under a constant string key (`data_loader["train"]`, `self.sampler['train']`); else None."""
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            base = value_key(node.value)
            if base is not None and _string_value(index.value.value) is not None:
                return f"{base}[{index.value.value}]"
        return None
    return dotted_name(node)


def key_head(key: str) -> str:
    """The variable a key starts from: `sampler` for `sampler["train"]` and `sampler.x`."""
    return re.split(r"[.\[]", key, maxsplit=1)[0]


def _string_value(literal: str) -> str | None:
    """The text of a plain string literal (`"train"`, `'train'`), None for prefixed ones."""
    for quote in ('"', "'"):
        if len(literal) >= 2 and literal[0] == quote and literal[-1] == quote and quote not in literal[1:-1]:
            return literal[1:-1]
    return None


def _literal_element(value: cst.BaseExpression | _Element | None) -> cst.BaseExpression | None:
    """A value, or for a target of tuple unpacking from a literal (`self.a, self.b = a, b`) the
    matching element; None when unknown."""
    if isinstance(value, _Element):
        items = value.value.elements if isinstance(value.value, (cst.Tuple, cst.List)) else ()
        if value.position < len(items) and not isinstance(items[value.position], cst.StarredElement):
            return items[value.position].value
        return None
    return value


def _dict_entry(value: cst.BaseExpression, item: str) -> cst.BaseExpression | None:
    """The value stored under ``item`` in a dict literal or a `dict(item=...)` call."""
    if isinstance(value, cst.Dict):
        for element in value.elements:
            if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
                if _string_value(element.key.value) == item:
                    return element.value
        return None
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict":
        found = keyword(value, item)
        return found.value if found is not None else None
    return None


def _class_refs(value: cst.BaseExpression | None) -> list[cst.BaseExpression]:
    """The plain names / attributes a value may be (both arms of a conditional expression)."""
    if isinstance(value, cst.IfExp):
        return _class_refs(value.body) + _class_refs(value.orelse)
    if isinstance(value, (cst.Name, cst.Attribute)):
        return [value]
    return []


def _unwraps(node: cst.IfExp) -> bool:
    """`model.module if distributed else model`: an unwrapping, whatever the other arm holds."""
    return any((dotted_name(arm) or "").endswith(".module") for arm in (node.body, node.orelse))


def _enabled(call: cst.Call) -> cst.BaseExpression | None:
    found = keyword(call, "enabled")
    return found.value if found is not None else None


@dataclass(frozen=True)
class _Element:
    """Element ``position`` of the tuple ``value`` (a target of tuple unpacking)."""

    value: cst.BaseExpression
    position: int


def _tuple_targets(flow: FunctionFlow) -> list[tuple[str, cst.BaseExpression | None]]:
    """Names bound by tuple unpacking (`train_loader, sampler = build(args)`), which the flow's
    events leave out, with the element of the value each one gets; loop targets (local, value
    unknown); items stored under a constant string key (`sampler["train"] = ...`)."""
    found: list[tuple[str, cst.BaseExpression | None]] = []

    def enter(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node is not flow.node:
            return False  # nested definitions have flows of their own
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, (cst.Tuple, cst.List)):
                    for position, element in enumerate(target.target.elements):
                        name = dotted_name(element.value)
                        if name is not None:
                            found.append((name, _Element(node.value, position)))
                elif isinstance(target.target, cst.Subscript):
                    item = value_key(target.target)
                    if item is not None:
                        found.append((item, node.value))
        elif isinstance(node, cst.For):
            name = dotted_name(node.target)
            if name is not None:
                found.append((name, None))
        return True

    walker.walk(flow.node, enter)  # nnlint's walker: LibCST's generic visitor is several times slower
    return found


def _returns(flow: FunctionFlow) -> list[cst.BaseExpression]:
    """The values a function returns (not those of functions nested in it)."""
    found: list[cst.BaseExpression] = []

    def enter(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not flow.node:
            return False
        if isinstance(node, cst.Return) and node.value is not None:
            found.append(node.value)
        return True

    if isinstance(flow.node, cst.FunctionDef):
        walker.walk(flow.node, enter)
    return found


def values(ctx: FileContext) -> Values:
    return ctx.shared(Values)
