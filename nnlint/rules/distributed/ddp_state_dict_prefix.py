from __future__ import annotations

import re

import libcst as cst

from nnlint import walker
from nnlint.flow import AssignEvent, CallEvent, FunctionFlow, flows_by_name, methods_of
from nnlint.names import dotted_name
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.rules.distributed._values import values
from nnlint.rules.loop._steps import names_in

_LOADING_WORDS = ("load", "restore", "resume", "restart")
_SAVE_FUNCTIONS = frozenset({"torch.save", "torch.serialization.save"})
# Signs that the file strips or adds the `module.` prefix itself.
_PREFIX_HANDLING = re.compile(
    r"""consume_prefix_in_state_dict_if_present|["']module\.?["']|\[\s*7\s*:\s*\]|len\(\s*["']module"""
)


class DdpStateDictPrefix(Rule):
    code = "NN705"
    name = "ddp-state-dict-prefix"
    summary = "the `state_dict()` of a DDP / DataParallel wrapper is saved (keys get `module.`)"
    what = (
        "Flags `wrapper.state_dict()` saved with `torch.save` -- directly, inside the dict "
        "passed to it, through a variable, or through a same-file function or `self.` method that "
        "saves its argument -- "
        "where `wrapper` holds a `DistributedDataParallel` / `DataParallel` at that point (built "
        "in the function, in the class's `self.<...>` attributes or in the script's module-level "
        "code; `model = DDP(model) if distributed else model` counts). Also flags "
        "`wrapper.load_state_dict(...)` in a file that saves the unwrapped model's "
        "`model.module.state_dict()`. Left alone: `model.module.state_dict()`, files that strip or "
        "add the prefix themselves (`consume_prefix_in_state_dict_if_present`, `'module.'` in a "
        "string, `k[7:]`), saving helpers that unwrap their argument (`isinstance` / `hasattr` / "
        "`.module` on it), a `state_dict()` in one arm of an `if` or conditional expression whose "
        "other arm or test unwraps the same name, files that load the checkpoint back into a wrapper (both sides "
        "wrapped), and models wrapped by code nnlint cannot see (`accelerator.prepare`)."
    )
    why = (
        "A wrapper's state_dict names every key `module.<key>`. The checkpoint then loads only "
        "into another wrapper: `Net().load_state_dict(ckpt)` for inference or fine-tuning fails "
        "with missing and unexpected keys -- or, with `strict=False`, silently loads nothing and "
        "runs on random weights. The same happens the other way round when a plain checkpoint is "
        "loaded into the wrapper."
    )
    use_instead = "torch.save(model.module.state_dict(), 'checkpoint.pt')\n"
    fix_availability = "unsafe"
    fix_safety = (
        "Unsafe: saves `model.module.state_dict()` instead, so the keys lose their `module.` "
        "prefix. Correct for loading into the bare model, but code that loads these checkpoints "
        "into a wrapper (another script, older checkpoints) must then load into `model.module`."
    )
    needs_flow = True
    triggers = ("DataParallel",)
    VALID = [
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\ndef main(net, loader):\n    model = DDP(net.cuda(), device_ids=[0])\n    train(model, loader)\n    torch.save(model.module.state_dict(), 'model.pt')\n",
        # The prefix is stripped where it is loaded.
        "import torch\n\nmodel = torch.nn.DataParallel(Net()).cuda()\ntorch.save(model.state_dict(), 'model.pt')\n\ndef load(path):\n    state = torch.load(path, weights_only=True)\n    state = {k.replace('module.', ''): v for k, v in state.items()}\n    net = Net()\n    net.load_state_dict(state)\n    return net\n",
        # Both sides wrapped: resumed into the wrapper (pytorch/examples imagenet).
        "import torch\n\ndef main(args, model):\n    if args.distributed:\n        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[args.gpu])\n    if args.resume:\n        checkpoint = torch.load(args.resume, weights_only=True)\n        model.load_state_dict(checkpoint['state_dict'])\n    for epoch in range(args.epochs):\n        train(model)\n        torch.save({'epoch': epoch, 'state_dict': model.state_dict()}, 'checkpoint.pth.tar')\n",
        # Saved before wrapping; the unwrapped model kept aside (DeiT / MAE's model_without_ddp).
        "import torch\n\ndef main(model):\n    torch.save(model.state_dict(), 'init.pt')\n    model = torch.nn.parallel.DistributedDataParallel(model)\n    model_without_ddp = model.module\n    torch.save({'model': model_without_ddp.state_dict()}, 'last.pt')\n",
    ]
    INVALID = [
        Invalid(
            "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\ndef main(net, loader):\n    model = DDP(net.cuda(), device_ids=[0])\n    train(model, loader)\n    torch.save(model.state_dict(), 'model.pt')  # error\n",
            fixed="import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\ndef main(net, loader):\n    model = DDP(net.cuda(), device_ids=[0])\n    train(model, loader)\n    torch.save(model.module.state_dict(), 'model.pt')  # error\n",
        ),
        # A module-level script wrapping only when there are several GPUs; saved in a dict.
        "import torch\nimport torch.nn as nn\n\nmodel = Net()\nif torch.cuda.device_count() > 1:\n    model = nn.DataParallel(model)\nmodel.cuda()\nfor epoch in range(10):\n    train(model)\n    checkpoint = {'epoch': epoch, 'model': model.state_dict()}  # error\n    torch.save(checkpoint, f'ckpt_{epoch}.pt')\n",
        # A trainer class whose model is wrapped in __init__; a same-file helper saves.
        "import torch\n\ndef save_checkpoint(state, path):\n    torch.save(state, path)\n\nclass Trainer:\n    def __init__(self, model, gpu_id):\n        self.model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[gpu_id])\n\n    def _save(self, epoch):\n        save_checkpoint({'epoch': epoch, 'model': self.model.state_dict()}, 'snapshot.pt')  # error\n",
        # A same-file helper saves the state_dict of whatever it is given.
        "import torch\n\ndef save_model(model, path):\n    torch.save(model.state_dict(), path)\n\ndef main(net, loader, gpu):\n    model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[gpu])\n    train(model, loader)\n    save_model(model, 'final.pt')  # error\n",
        # The load side: the file saves the bare model, then loads into the wrapper.
        "import torch\n\ndef main(model, path):\n    model = torch.nn.parallel.DistributedDataParallel(model)\n    model.load_state_dict(torch.load(path, weights_only=True))  # error\n    train(model)\n    torch.save(model.module.state_dict(), path)\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        if _PREFIX_HANDLING.search(self.ctx.source):
            return
        self.values = values(self.ctx)
        self._guarded: dict[int, set[int]] = {}
        self.savers = self._saving_helpers()
        self.param_savers = self._param_state_savers()
        saves: list[tuple[FunctionFlow, CallEvent]] = []
        handed: list[tuple[CallEvent, cst.Arg, str]] = []  # a wrapper given to a helper that saves its state_dict
        loads_into_wrapper: list[CallEvent] = []  # both sides wrapped: the saves are fine
        wrapped_loads: list[CallEvent] = []  # known to load into the wrapper
        saves_unwrapped = False
        for flow in self.ctx.flows:
            for index, event in enumerate(flow.events):
                if not isinstance(event, CallEvent):
                    continue
                saver = self._param_saver_called(flow, event)
                if saver is not None:
                    handed.extend(self._wrappers_handed(flow, event, index, saver))
                elif self._loader_given_wrapper(flow, event, index):
                    loads_into_wrapper.append(event)
                elif event.receiver is None:
                    continue
                elif event.method == "state_dict":
                    if event.receiver.endswith(".module"):
                        saves_unwrapped = saves_unwrapped or self._saved(flow, event.node)
                    elif (
                        self.values.is_wrapper(flow, event.receiver, index)
                        and self._saved(flow, event.node)
                        and id(event.node) not in self._unwrap_branches(flow)
                    ):
                        saves.append((flow, event))
                elif event.method == "load_state_dict" and self.values.is_wrapper(flow, event.receiver, index):
                    loads_into_wrapper.append(event)
                    # Only a local name shows the order of wrapping and loading (a trainer may
                    # load in __init__ before it wraps `self.model`).
                    if self.values.value_at(flow, event.receiver, index) is not None:
                        wrapped_loads.append(event)
        if not loads_into_wrapper:
            for flow, event in saves:
                self._report_save(event)
            for event, arg, helper in handed:
                key = dotted_name(arg.value)
                self.report(
                    arg.value,
                    f"`{key}` is a DDP / DataParallel wrapper, and `{helper}()` saves its "
                    f"`state_dict()`, whose keys all start with `module.`: the checkpoint will not "
                    f"load into the bare model; pass `{key}.module`",
                )
        elif saves_unwrapped:
            for event in wrapped_loads:
                self.report(
                    event.node,
                    f"`{event.receiver}` is a DDP / DataParallel wrapper, whose keys start with "
                    f"`module.`, but this file saves the bare model's `.module.state_dict()`: "
                    f"those checkpoints do not load here; load into `{event.receiver}.module`",
                )

    def _param_state_savers(self) -> dict[int, tuple[FunctionFlow, frozenset[str]]]:
        """Same-file functions and methods that save `<param>.state_dict()`: id of the function
        node -> (its flow, those parameters), for the call sites that hand them a wrapper."""
        found: dict[int, tuple[FunctionFlow, frozenset[str]]] = {}
        for flow in self.ctx.flows:
            if not isinstance(flow.node, cst.FunctionDef):
                continue
            code = self.ctx.module.code_for_node(flow.node)
            saved: set[str] = set()
            for event in flow.calls():
                param = event.receiver
                if event.method != "state_dict" or param not in flow.params or not self._saved(flow, event.node):
                    continue
                # `if isinstance(model, DDP): model = model.module`: the helper unwraps.
                if param not in self.values.assignments(flow) and not _unwrap_test(param).search(code):
                    saved.add(param)
            if saved:
                found[id(flow.node)] = (flow, frozenset(saved))
        return found

    def _param_saver_called(self, flow: FunctionFlow, event: CallEvent) -> tuple[FunctionFlow, frozenset[str]] | None:
        """The saver ``event`` calls: `save(...)` (a module-level function) or `self.save(...)`
        (a method of the caller's class)."""
        if event.func is not None and "." not in event.func:
            callee = flows_by_name(self.ctx).get(event.func)
        elif event.receiver == "self" and event.method is not None and flow.owner is not None:
            callee = methods_of(self.ctx, flow.owner).get(event.method)
        else:
            return None
        return self.param_savers.get(id(callee.node)) if callee is not None else None

    def _unwrap_branches(self, flow: FunctionFlow) -> set[int]:
        """id() of the `x.state_dict()` calls in one arm of an `if` / conditional expression
        whose test or other arm unwraps `x` (`x.module.state_dict() if distributed else
        x.state_dict()`, `if isinstance(x, DDP): ... else: save(x.state_dict())`)."""
        found = self._guarded.get(id(flow.node))
        if found is None:
            found = self._guarded[id(flow.node)] = set()
            code = self.ctx.module.code_for_node

            def enter(node: cst.CSTNode) -> bool:
                if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not flow.node:
                    return False
                if isinstance(node, (cst.If, cst.IfExp)):
                    arms = [a for a in (node.body, node.orelse) if a is not None]
                    for arm in arms:
                        others = " ".join([code(node.test), *(code(o) for o in arms if o is not arm)])
                        for call in _state_dict_calls(arm):
                            receiver = dotted_name(call.func.value)  # type: ignore[attr-defined]
                            if receiver is not None and _unwrap_test(receiver).search(others):
                                found.add(id(call))
                return True

            walker.walk(flow.node, enter)
        return found

    def _wrappers_handed(
        self, flow: FunctionFlow, event: CallEvent, index: int, saver: tuple[FunctionFlow, frozenset[str]]
    ) -> list[tuple[CallEvent, cst.Arg, str]]:
        callee, saved = saver
        params = list(callee.params)
        if callee.owner is not None and params[:1] == ["self"]:
            params = params[1:]
        found = []
        positional = [arg for arg in event.node.args if arg.keyword is None and not arg.star]
        named = [(arg.keyword.value, arg) for arg in event.node.args if arg.keyword is not None]
        for param, arg in [*zip(params, positional), *named]:
            key = dotted_name(arg.value)
            if param in saved and key is not None and self.values.is_wrapper(flow, key, index):
                found.append((event, arg, callee.name))
        return found

    def _loader_given_wrapper(self, flow: FunctionFlow, event: CallEvent, index: int) -> bool:
        """A call that may load a checkpoint into a wrapper it is handed (DINO's
        `utils.restart_from_checkpoint(path, state_dict=classifier)`)."""
        name = (event.method or event.func or "").lower()
        if not any(word in name for word in _LOADING_WORDS):
            return False
        return any(
            (key := dotted_name(arg.value)) is not None and self.values.is_wrapper(flow, key, index)
            for arg in event.node.args
        )

    def _report_save(self, event: CallEvent) -> None:
        func = event.node.func
        assert isinstance(func, cst.Attribute)
        receiver = self.ctx.module.code_for_node(func.value)
        self.report(
            event.node,
            f"`{receiver}` is a DDP / DataParallel wrapper: its `state_dict()` prefixes every key "
            f"with `module.`, and the saved checkpoint will not load into the bare model; save "
            f"`{receiver}.module.state_dict()`",
            NodeFix(f"save `{receiver}.module.state_dict()`", "unsafe", ((func.value, f"{receiver}.module"),)),
        )

    # -- is the state_dict saved? ------------------------------------------------------------

    def _saved(self, flow: FunctionFlow, call: cst.Call) -> bool:
        """Whether ``call``'s value reaches `torch.save` (or a same-file helper that saves its
        argument) in ``flow``: inside its arguments, or through the variables it is assigned to."""
        holders: set[str] = set()
        for event in flow.events:
            if isinstance(event, AssignEvent) and event.value is not None and _contains(event.value, call):
                holders.update(event.targets)
        for event in flow.calls():
            if not self._saves(event):
                continue
            if _contains(event.node, call):
                return True
            if holders and any(holders & names_in(arg.value) for arg in event.node.args):
                return True
        return False

    def _saves(self, event: CallEvent) -> bool:
        if self.ctx.qualified_name(event.node.func) in _SAVE_FUNCTIONS:
            return True
        return event.func is not None and event.func in self.savers

    def _saving_helpers(self) -> set[str]:
        """Module-level functions of this file that pass one of their parameters to `torch.save`."""
        found = set()
        for name, flow in flows_by_name(self.ctx).items():
            for event in flow.calls():
                if self.ctx.qualified_name(event.node.func) in _SAVE_FUNCTIONS and any(
                    dotted_name(arg.value) in flow.params for arg in event.node.args
                ):
                    found.add(name)
        return found


def _unwrap_test(name: str) -> re.Pattern[str]:
    """`name.module`, `isinstance(name, ...)`, `hasattr(name, ...)`, `getattr(name, ...)`."""
    escaped = re.escape(name)
    return re.compile(rf"(?<![\w.]){escaped}\.module\b|(?:isinstance|hasattr|getattr)\(\s*{escaped}\b")


def _state_dict_calls(root: cst.CSTNode) -> list[cst.Call]:
    found: list[cst.Call] = []

    def enter(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "state_dict":
            found.append(node)
        return not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda))

    walker.walk(root, enter)
    return found


def _contains(root: cst.CSTNode, target: cst.CSTNode) -> bool:
    found = False

    class _Find(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            nonlocal found
            if node is target:
                found = True
            return not found

    root.visit(_Find())
    return found
