from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from nnlint import walker

from nnlint.flow import CallEvent, FunctionFlow, flows_by_name, methods_of
from nnlint.modes import bind_arguments
from nnlint.names import dotted_name
from nnlint.rule import Rule
from nnlint.rules.distributed._amp import SCALER_STEP, amp_steps
from nnlint.rules.distributed._values import key_head, value_key, values
from nnlint.rules.loop._steps import BACKWARD, LOOP_TYPES, OPT_STEP, loop_label, name_tokens, names_in

if TYPE_CHECKING:
    from nnlint.context import FileContext

# Calls that read a loader or sampler without iterating it for an epoch or setting its epoch.
_NEUTRAL_CALLS = frozenset(
    "enumerate zip iter len print tqdm tqdm.tqdm trange range isinstance str repr list sorted logger.info "
    "logging.info".split()
)
_EVALUATION_WORDS = frozenset({"val", "valid", "validation", "test", "eval", "evaluation", "dev", "query", "gallery"})
_MAX_DEPTH = 3


@dataclass
class _Pass:
    """A `for ... in <loader>` over a loader that draws from a shuffling DistributedSampler."""

    loop: cst.For  # the pass itself
    report_at: cst.CSTNode  # the loader in its `for` header, or the helper call in the epoch loop
    loader: str  # as the epoch loop's function names it
    sampler: str  # how to name the sampler in the message
    line_of_sampler: cst.Call


class SamplerSetEpochMissing(Rule):
    code = "NN704"
    name = "sampler-set-epoch-missing"
    summary = "a `DistributedSampler` is iterated epoch after epoch without `set_epoch(epoch)`"
    what = (
        "Flags a training pass over a DataLoader that draws from a `DistributedSampler` (built "
        "directly, or passed as the loader's `sampler=`, seen in the same function, the class's "
        "`self.<...>` attributes, the script's module-level code, or -- for a parameter -- what the "
        "function's same-file callers pass) inside an epoch loop that "
        "never calls `set_epoch(...)` -- on any object: `sampler.set_epoch(epoch)`, "
        "`loader.sampler.set_epoch(epoch)`, a loader wrapper's own `set_epoch`. The pass may be a "
        "`for batch in loader:` in the epoch loop or in a same-file helper the epoch loop calls "
        "with the loader, an iterator made again inside a loop (`it = iter(loader)` in the `except "
        "StopIteration:` that renews it), or a same-file generator that loops forever over the "
        "loader (`while True: for batch in loader: yield batch`, as long as the file never calls "
        "`set_epoch`). The sampler may be built through a name bound to the class "
        "(`sampler_cls = RandomSampler if single else DistributedSampler`). Loaders and samplers may "
        "be held in dicts under constant string keys (`loaders[\"train\"]`: a dict literal, "
        "`dict(train=...)`, or item assignments), and reach a same-file class through its "
        "constructor (`Trainer(loader)` ... `self.loader = loader`). torch_xla's device loaders "
        "(`pl.ParallelLoader(loader, [device]).per_device_loader(device)`, `pl.MpDeviceLoader`) "
        "pass over the loader they wrap and never set the epoch. "
        "A pass is a training pass when it back-propagates or steps an optimizer "
        "(helpers followed) or the loader's name says `train`; evaluation loaders (`val`, `test`, "
        "`eval` in the name) are left alone, as are samplers built with a literal `shuffle=False`, "
        "loaders iterated once (no loop around the pass), and epoch loops that hand the loader or "
        "its sampler to code nnlint cannot see (which may set the epoch)."
    )
    why = (
        "`DistributedSampler` shuffles with a generator seeded by `seed + epoch`, and its epoch "
        "only changes when `set_epoch` is called. Without it every epoch visits the data in "
        "exactly the same order on every rank -- the shuffling the code asks for happens once. "
        "PyTorch's documentation: \"calling the set_epoch() method at the beginning of each epoch "
        "before creating the DataLoader iterator is necessary to make shuffling work properly "
        "across multiple epochs. Otherwise, the same ordering will be always used.\""
    )
    use_instead = (
        "sampler = DistributedSampler(dataset)\nloader = DataLoader(dataset, batch_size=32, sampler=sampler)\n"
        "for epoch in range(epochs):\n    sampler.set_epoch(epoch)\n    for x, y in loader:\n"
        "        train_step(model, optimizer, x, y)\n"
    )
    needs_flow = True
    triggers = ("DistributedSampler",)
    VALID = [
        "from torch.utils.data import DataLoader, DistributedSampler\n\ndef main(model, optimizer, dataset, epochs):\n    sampler = DistributedSampler(dataset)\n    loader = DataLoader(dataset, batch_size=32, sampler=sampler)\n    for epoch in range(epochs):\n        sampler.set_epoch(epoch)\n        for x, y in loader:\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n",
        # Through the loader, in a trainer class.
        "import torch\nfrom torch.utils.data.distributed import DistributedSampler\n\nclass Trainer:\n    def __init__(self, model, optimizer, dataset):\n        self.model, self.optimizer = model, optimizer\n        self.loader = torch.utils.data.DataLoader(dataset, sampler=DistributedSampler(dataset))\n\n    def fit(self, epochs):\n        for epoch in range(epochs):\n            self.loader.sampler.set_epoch(epoch)\n            self._run_epoch()\n\n    def _run_epoch(self):\n        for x, y in self.loader:\n            self.optimizer.zero_grad()\n            self.model(x, y).backward()\n            self.optimizer.step()\n",
        # No shuffling; an evaluation loader; a loader used once.
        "from torch.utils.data import DataLoader, DistributedSampler\n\ndef main(model, optimizer, dataset, epochs):\n    loader = DataLoader(dataset, sampler=DistributedSampler(dataset, shuffle=False))\n    for epoch in range(epochs):\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n            optimizer.zero_grad()\n",
        "from torch.utils.data import DataLoader, DistributedSampler\n\ndef main(model, dataset, epochs):\n    val_loader = DataLoader(dataset, sampler=DistributedSampler(dataset))\n    for epoch in range(epochs):\n        for x, y in val_loader:\n            print(model(x).eq(y).sum())\n",
        "from torch.utils.data import DataLoader, DistributedSampler\n\ndef fit_once(model, optimizer, dataset):\n    loader = DataLoader(dataset, sampler=DistributedSampler(dataset))\n    for x, y in loader:\n        model(x, y).backward()\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # Loaders and samplers in dicts (ParallelWaveGAN after #177): the epoch is set.
        "from torch.utils.data import DataLoader, DistributedSampler\n\nclass Trainer:\n    def __init__(self, data_loader, sampler, model, optimizer):\n        self.data_loader, self.sampler = data_loader, sampler\n        self.model, self.optimizer = model, optimizer\n\n    def run(self, epochs):\n        for epoch in range(epochs):\n            self.sampler['train'].set_epoch(epoch)\n            for x, y in self.data_loader['train']:\n                self.model(x, y).backward()\n                self.optimizer.step()\n\ndef main(datasets, model, optimizer):\n    sampler = {'train': DistributedSampler(datasets['train'])}\n    data_loader = {'train': DataLoader(datasets['train'], sampler=sampler['train'])}\n    Trainer(data_loader, sampler, model, optimizer).run(10)\n",
        # The loader goes to code nnlint cannot see (DeiT / MAE's engine.train_one_epoch).
        "from torch.utils.data import DataLoader, DistributedSampler\nfrom engine import train_one_epoch\n\ndef main(model, optimizer, dataset, epochs):\n    loader = DataLoader(dataset, sampler=DistributedSampler(dataset))\n    for epoch in range(epochs):\n        train_one_epoch(model, loader, optimizer, epoch)\n",
    ]
    INVALID = [
        "from torch.utils.data import DataLoader, DistributedSampler\n\ndef main(model, optimizer, dataset, epochs):\n    sampler = DistributedSampler(dataset)\n    loader = DataLoader(dataset, batch_size=32, sampler=sampler)\n    for epoch in range(epochs):\n        for x, y in loader:  # error\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n",
        # A module-level script; the sampler exists only when distributed.
        "import torch\nfrom torch.utils.data.distributed import DistributedSampler\n\ntrain_sampler = DistributedSampler(train_set) if args.distributed else None\ntrain_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=(train_sampler is None), sampler=train_sampler)\nfor epoch in range(args.epochs):\n    for i, (images, target) in enumerate(train_loader):  # error\n        loss = criterion(model(images), target)\n        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n",
        # A same-file helper runs the epoch; the loader is the class's.
        "from torch.utils.data import DataLoader\nfrom torch.utils.data.distributed import DistributedSampler\n\nclass Trainer:\n    def __init__(self, model, optimizer, dataset):\n        self.model, self.optimizer = model, optimizer\n        self.train_data = DataLoader(dataset, batch_size=32, shuffle=False, sampler=DistributedSampler(dataset))\n\n    def _run_epoch(self, epoch):\n        for source, targets in self.train_data:\n            self.optimizer.zero_grad()\n            self.model(source, targets).backward()\n            self.optimizer.step()\n\n    def train(self, max_epochs):\n        for epoch in range(max_epochs):\n            self._run_epoch(epoch)  # error\n",
        # The loader is handed to a same-file train function that never sets the epoch.
        "import torch\n\ndef train(model, loader, optimizer):\n    for x, y in loader:\n        optimizer.zero_grad()\n        model(x, y).backward()\n        optimizer.step()\n\ndef main(model, optimizer, dataset, epochs):\n    sampler = torch.utils.data.DistributedSampler(dataset, shuffle=True)\n    train_loader = torch.utils.data.DataLoader(dataset, sampler=sampler)\n    for epoch in range(epochs):\n        train(model, train_loader, optimizer)  # error\n",
        # stylegan2-style endless generator: every turn of its `while True` is an epoch.
        "from torch.utils import data\n\ndef sample_data(loader):\n    while True:\n        for batch in loader:\n            yield batch\n\ndef train(args, loader, model, optimizer):\n    loader = sample_data(loader)  # error\n    for step in range(args.iter):\n        model(next(loader)).backward()\n        optimizer.step()\n        optimizer.zero_grad()\n\ndef main(args, dataset, model, optimizer):\n    sampler = data.distributed.DistributedSampler(dataset, shuffle=True)\n    loader = data.DataLoader(dataset, sampler=sampler)\n    train(args, loader, model, optimizer)\n",
        # Loaders and samplers in dicts, handed to a same-file trainer (ParallelWaveGAN#177).
        "from torch.utils.data import DataLoader, DistributedSampler\n\nclass Trainer:\n    def __init__(self, data_loader, sampler, model, optimizer):\n        self.data_loader, self.sampler = data_loader, sampler\n        self.model, self.optimizer = model, optimizer\n\n    def run(self, epochs):\n        for epoch in range(epochs):\n            for x, y in self.data_loader['train']:  # error\n                self.model(x, y).backward()\n                self.optimizer.step()\n\ndef main(datasets, model, optimizer):\n    sampler = {'train': DistributedSampler(datasets['train'])}\n    data_loader = {'train': DataLoader(datasets['train'], sampler=sampler['train'])}\n    Trainer(data_loader, sampler, model, optimizer).run(10)\n",
        # torch_xla's per-device loader wraps the DataLoader each epoch (pytorch/xla#2029).
        "import torch\nimport torch_xla.distributed.parallel_loader as pl\n\ndef train(model, optimizer, dataset, device, epochs):\n    sampler = torch.utils.data.distributed.DistributedSampler(dataset, shuffle=True)\n    loader = torch.utils.data.DataLoader(dataset, sampler=sampler)\n    for epoch in range(epochs):\n        para_loader = pl.ParallelLoader(loader, [device]).per_device_loader(device)\n        for x, y in para_loader:  # error\n            model(x, y).backward()\n            optimizer.step()\n            optimizer.zero_grad()\n",
        # FixMatch-style renewal of the iterator when it runs out; the sampler class picked by rank.
        "from torch.utils.data import DataLoader, RandomSampler\nfrom torch.utils.data.distributed import DistributedSampler\n\ndef main(args, dataset, model, optimizer):\n    sampler_cls = RandomSampler if args.local_rank == -1 else DistributedSampler\n    loader = DataLoader(dataset, sampler=sampler_cls(dataset))\n    batches = iter(loader)\n    for step in range(args.steps):\n        try:\n            x, y = next(batches)\n        except StopIteration:\n            batches = iter(loader)  # error\n            x, y = next(batches)\n        model(x, y).backward()\n        optimizer.step()\n        optimizer.zero_grad()\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        self.values = values(self.ctx)
        self.steps = amp_steps(self.ctx)
        self.functions = flows_by_name(self.ctx)
        for flow in self.ctx.flows:
            reported: set[int] = set()
            for epoch_loop, found in self._passes(flow):
                if id(found.report_at) in reported:
                    continue
                if self._sets_epoch(flow, epoch_loop, 0) or self._handed_away(flow, epoch_loop, found):
                    continue
                reported.add(id(found.report_at))
                where = loop_label(self.ctx.module, epoch_loop)
                self.report(
                    found.report_at,
                    f"`{found.loader}` draws from a shuffling `DistributedSampler` and is iterated "
                    f"in every pass of this {where}, which never calls `set_epoch`: every epoch "
                    f"sees the same order; call `{found.sampler}.set_epoch(epoch)` at the start of "
                    f"each epoch, before iterating the loader",
                )

    # -- passes over distributed loaders ----------------------------------------------------

    def _passes(self, flow: FunctionFlow) -> Iterator[tuple[cst.CSTNode, _Pass]]:
        """(epoch loop, pass) for every training pass that runs once per iteration of a loop
        of ``flow``."""
        for loop, outer in _loops(flow.node):
            if not outer or not isinstance(loop, cst.For):
                continue
            found = self._pass_over(flow, loop, loop.iter, {})
            if found is not None and self._trains(flow, found):
                yield outer[-1], found
        for event in flow.calls():
            if not event.loops:
                continue
            callee = self._callee(flow, event)
            if callee is None or callee is flow:
                continue
            mapping = _bindings(callee, event)
            for loop, _ in _loops(callee.node):
                if not isinstance(loop, cst.For):
                    continue
                found = self._pass_over(callee, loop, loop.iter, mapping, flow)
                if found is not None and self._trains(callee, found):
                    found.report_at = event.node
                    yield event.loops[-1], found

        yield from self._renewed_iterators(flow)
        yield from self._cycled(flow)

    def _renewed_iterators(self, flow: FunctionFlow) -> Iterator[tuple[cst.CSTNode, _Pass]]:
        """`it = iter(loader)` made again inside a loop (FixMatch's `except StopIteration:`
        renewal, `next(iter(loader))`): every new iterator starts a pass over the loader."""
        for index, event in enumerate(flow.events):
            if not isinstance(event, CallEvent) or event.func != "iter" or not event.loops:
                continue
            if len(event.node.args) != 1:
                continue
            key = dotted_name(event.node.args[0].value)
            if key is None or _evaluation(key):
                continue
            found = self.values.loader_sampler_at(flow, key, index)
            if found is None:
                continue
            sampler_call, sampler_name = found
            loop = event.loops[-1]
            passed = _Pass(loop, event.node, key, sampler_name or f"{key}.sampler", sampler_call)  # type: ignore[arg-type]
            if self._trains(flow, passed):
                yield loop, passed

    def _cycled(self, flow: FunctionFlow) -> Iterator[tuple[cst.CSTNode, _Pass]]:
        """`batches = sample_data(loader)` where the same-file generator loops forever over its
        argument (`while True: for batch in loader: yield batch`): each turn of the generator's
        loop is an epoch, and nothing between the turns can set the sampler's epoch unless the
        file calls `set_epoch` somewhere (then the rule stays silent)."""
        if self.ctx.shared(file_sets_epoch):
            return
        for index, event in enumerate(flow.events):
            if not isinstance(event, CallEvent):
                continue
            callee = self._callee(flow, event)
            if callee is None or callee is flow or not _is_generator(callee.node):
                continue
            mapping = _bindings(callee, event)
            for loop, outer in _loops(callee.node):
                if not outer or not isinstance(loop, cst.For):
                    continue
                param = dotted_name(loop.iter)
                if param is None or param not in mapping or _evaluation(mapping[param]):
                    continue
                key = mapping[param]
                found = self.values.loader_sampler_at(flow, key, index)
                if found is None:
                    continue
                sampler_call, sampler_name = found
                passed = _Pass(loop, event.node, key, sampler_name or f"{key}.sampler", sampler_call)
                trains = any(e.kind in (BACKWARD, OPT_STEP, SCALER_STEP) and e.loops for e in self.steps.events(flow))
                if trains or "train" in name_tokens(key):
                    yield outer[-1], passed

    def _pass_over(
        self,
        flow: FunctionFlow,
        loop: cst.For,
        iterable: cst.BaseExpression,
        mapping: dict[str, str],
        caller: FunctionFlow | None = None,
    ) -> _Pass | None:
        for key in sorted(names_in(iterable) | _items_in(iterable)):
            head = key_head(key)
            if head in mapping and caller is not None:
                outer_key = mapping[head] + key[len(head) :]
                found = self.values.loader_sampler_of(caller, outer_key)
                shown = outer_key
            else:
                found = self.values.loader_sampler_of(flow, key)
                shown = key
            if found is None or _evaluation(shown):
                continue
            sampler_call, sampler_name = found
            sampler = sampler_name or f"{shown}.sampler"
            return _Pass(loop, loop.iter, shown, sampler, sampler_call)
        return None

    def _trains(self, flow: FunctionFlow, found: _Pass) -> bool:
        events = self.steps.events(flow)
        if any(e.kind in (BACKWARD, OPT_STEP, SCALER_STEP) and found.loop in e.loops for e in events):
            return True
        return "train" in name_tokens(found.loader)

    # -- set_epoch and unseen code ----------------------------------------------------------

    def _sets_epoch(self, flow: FunctionFlow, region: cst.CSTNode, depth: int) -> bool:
        """Whether ``region`` calls `set_epoch` on anything, itself or through same-file helpers."""
        for call in _calls(region):
            if isinstance(call.func, cst.Attribute) and call.func.attr.value == "set_epoch":
                return True
        if depth >= _MAX_DEPTH:
            return False
        for event in flow.calls():
            if not _within(event, region, flow):
                continue
            callee = self._callee(flow, event)
            if callee is not None and callee is not flow and self._sets_epoch(callee, callee.node, depth + 1):
                return True
        return False

    def _handed_away(self, flow: FunctionFlow, region: cst.CSTNode, found: _Pass) -> bool:
        """Whether the epoch loop gives the loader or its sampler to code nnlint cannot see."""
        watched = {found.loader, found.sampler, found.loader + ".sampler"}
        for event in flow.calls():
            if not _within(event, region, flow) or event.func in _NEUTRAL_CALLS:
                continue
            if self._callee(flow, event) is not None or self.values.wrapped_loader(event.node) is not None:
                continue  # same-file code is followed; torch_xla's device loaders never set the epoch
            if any(dotted_name(arg.value) in watched for arg in event.node.args):
                return True
        return False

    def _callee(self, flow: FunctionFlow, event: CallEvent) -> FunctionFlow | None:
        if event.func is None:
            return None
        if "." not in event.func:
            nested = [
                f for f in self.ctx.flows if f.name == event.func and f.owner is None and isinstance(f.node, cst.FunctionDef)
            ]
            return self.functions.get(event.func) or (nested[0] if len(nested) == 1 else None)
        if flow.owner is not None and event.receiver == "self" and event.method is not None:
            return methods_of(self.ctx, flow.owner).get(event.method)
        return None


def _items_in(node: cst.CSTNode) -> set[str]:
    """The items under a constant string key used in an expression (`self.data_loader["train"]`)."""
    found: set[str] = set()

    def enter(sub: cst.CSTNode) -> bool:
        if isinstance(sub, cst.Lambda):
            return False
        if isinstance(sub, cst.Subscript):
            key = value_key(sub)
            if key is not None:
                found.add(key)
        return True

    walker.walk(node, enter)
    return found


def _is_generator(function: cst.CSTNode) -> bool:
    """Whether a function body yields (nested functions and classes left out)."""
    found = False

    def enter(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not function:
            return False
        if isinstance(node, cst.Yield):
            found = True
        return not found

    walker.walk(function, enter)
    return found


def file_sets_epoch(ctx: FileContext) -> bool:
    """Whether the file calls `.set_epoch(...)` anywhere (per file: ``ctx.shared``)."""
    found = False

    def enter(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "set_epoch":
            found = True
        return not found

    walker.walk(ctx.module, enter)
    return found


def _within(event: CallEvent, region: cst.CSTNode, flow: FunctionFlow) -> bool:
    return region is flow.node or region in event.loops


def _evaluation(key: str) -> bool:
    return bool(_EVALUATION_WORDS & set(name_tokens(key)))


def _bindings(callee: FunctionFlow, event: CallEvent) -> dict[str, str]:
    """The callee's parameters (``self`` left out for a method) -> the caller's names passed."""
    params = list(callee.params)
    if callee.owner is not None and params[:1] == ["self"]:
        params = params[1:]
    return bind_arguments(params, event)


def _loops(root: cst.CSTNode) -> list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]]:
    """Every for/while loop of a function (not of functions nested in it) with its enclosing
    loops, outermost first."""
    found: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = []
    stack: list[cst.CSTNode] = []

    class _Loops(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not root:
                return False
            if isinstance(node, LOOP_TYPES):
                found.append((node, tuple(stack)))
                stack.append(node)
            return True

        def on_leave(self, original_node: cst.CSTNode) -> None:
            if stack and stack[-1] is original_node:
                stack.pop()

    root.visit(_Loops())
    return found


def _calls(root: cst.CSTNode) -> list[cst.Call]:
    found: list[cst.Call] = []

    class _Calls(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node is not root:
                return False
            if isinstance(node, cst.Call):
                found.append(node)
            return True

    root.visit(_Calls())
    return found

