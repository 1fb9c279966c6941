from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.flow import AssignEvent, FunctionFlow
from nnlint.names import dotted_name
from nnlint.patterns import keyword
from nnlint.rule import Rule

_STRICT_POSITION = 1  # load_state_dict(state_dict, strict=True, assign=False)
# Calls that read weights from a file or URL: where a key mismatch is a surprise, not a design.
_LOADERS = frozenset(
    {
        "torch.load",
        "torch.serialization.load",
        "torch.hub.load_state_dict_from_url",
        "torch.utils.model_zoo.load_url",
        "safetensors.torch.load_file",
        "safetensors.torch.load",
    }
)
# Names of a function's own key check (`missing = set(model_keys) - set(loaded_keys)`).
_KEY_CHECK_WORDS = ("missing", "unexpected")


def _is_false(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


class LoadStateDictStrictFalseUnchecked(Rule):
    code = "NN303"
    name = "load-state-dict-strict-false-unchecked"
    summary = "`load_state_dict(..., strict=False)` whose missing / unexpected keys are thrown away"
    what = (
        "Flags a statement `x.load_state_dict(state, strict=False)` (or with `False` passed "
        "positionally) that throws the returned missing / unexpected keys away, when `state` comes "
        "from a file or URL in the same function (`torch.load`, `load_state_dict_from_url`, "
        "safetensors' `load_file`, directly or through variables, subscripts and comprehensions). "
        "It stays silent when `state` is another live module's `state_dict()` or comes from code "
        "nnlint cannot see (a partial copy by design), and when the function computes its own "
        "`missing` / `unexpected` keys."
    )
    why = (
        "`strict=False` turns every key mismatch into silence: a renamed layer, a `module.` prefix "
        "left by DataParallel, or a checkpoint of another architecture loads *nothing* into the "
        "affected layers, which keep their random initialisation, and training or evaluation goes "
        "on without an error. The call returns the keys it skipped; look at them."
    )
    use_instead = (
        "result = model.load_state_dict(state, strict=False)\n"
        "assert not result.unexpected_keys, result.unexpected_keys\n"
        "print(\"newly initialised:\", result.missing_keys)\n"
    )
    fix_safety = "No fix is offered: which mismatches are expected is for a human to say."
    needs_flow = True
    triggers = ("load_state_dict",)
    VALID = [
        "import torch\n\nmissing, unexpected = model.load_state_dict(torch.load('a.pt', weights_only=True), strict=False)\nassert not unexpected\n",
        "import logging\nimport torch\n\nresult = model.load_state_dict(torch.load('a.pt', weights_only=True), strict=False)\nlogging.info('missing keys: %s', result.missing_keys)\n",
        "import torch\n\nmodel.load_state_dict(torch.load('a.pt', weights_only=True))\n",
        "import torch\n\nmodel.load_state_dict(torch.load('a.pt', weights_only=True), strict=True)\n",
        # A strictness nnlint cannot read.
        "import torch\n\ndef load(model, path, strict):\n    model.load_state_dict(torch.load(path, weights_only=True), strict=strict)\n",
        "import torch\n\nprint(model.load_state_dict(torch.load('a.pt', weights_only=True), strict=False))\n",
        # Copying the matching part of another live module: a partial load by design.
        "def init_from(controlnet, unet):\n    controlnet.down_blocks.load_state_dict(unet.down_blocks.state_dict(), strict=False)\n",
        # The function checks the keys itself before loading shard by shard.
        "import torch\n\ndef load_sharded(model, files, index):\n    missing_keys = [k for k in model.state_dict() if k not in index]\n    if missing_keys:\n        raise KeyError(missing_keys)\n    for file in files:\n        model.load_state_dict(torch.load(file, weights_only=True), strict=False)\n",
        # A state dict from code nnlint cannot see.
        "def restore_norms(transformer):\n    transformer.load_state_dict(transformer.saved_norm_layers, strict=False)\n",
    ]
    INVALID = [
        "import torch\n\nmodel.load_state_dict(torch.load('pretrained.pt', weights_only=True), strict=False)  # error\n",
        "import torch\n\nclass Finetuner:\n    def load_backbone(self, path):\n        checkpoint = torch.load(path, map_location='cpu', weights_only=True)\n        state = {k.removeprefix('module.'): v for k, v in checkpoint['model'].items()}\n        self.model.backbone.load_state_dict(state, False)  # error\n",
        "from torch.hub import load_state_dict_from_url\n\ndef build(model, url):\n    model.load_state_dict(load_state_dict_from_url(url), strict=False)  # error\n    return model\n",
        "from safetensors.torch import load_file\n\ndef load_heads(models, paths):\n    for model, path in zip(models, paths):\n        weights = load_file(path)\n        model.head.load_state_dict(weights, strict=False)  # error\n",
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._discarded: list[cst.Call] = []  # strict=False loads used as statements

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "load_state_dict"
            and call.args
            and call.args[0].keyword is None
            and not call.args[0].star
        ):
            return
        strict = keyword(call, "strict")
        positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
        if strict is None and len(positional) > _STRICT_POSITION:
            strict = positional[_STRICT_POSITION]
        if strict is not None and _is_false(strict.value):
            self._discarded.append(call)

    def leave_Module(self, node: cst.Module) -> None:
        if not self._discarded:
            return
        wanted = set(self._discarded)
        for flow in self.ctx.flows:
            calls = [e.node for e in flow.calls() if e.node in wanted]
            if calls and not self._checks_keys_itself(flow):
                loaded = self._loaded_names(flow)
                for call in calls:
                    if self._from_file(call.args[0].value, loaded):
                        self._report(call)

    def _report(self, call: cst.Call) -> None:
        receiver = dotted_name(call.func.value) or "module"  # type: ignore[attr-defined]
        self.report(
            call,
            f"`{receiver}.load_state_dict(..., strict=False)` throws away the missing and unexpected "
            f"keys, so a checkpoint that does not match loads silently into nothing; keep the "
            f"result (`missing, unexpected = {receiver}.load_state_dict(...)`) and check it",
        )

    def _checks_keys_itself(self, flow: FunctionFlow) -> bool:
        return any(
            isinstance(event, AssignEvent)
            and any(word in target.rpartition(".")[2].lower() for target in event.targets for word in _KEY_CHECK_WORDS)
            for event in flow.events
        )

    def _loaded_names(self, flow: FunctionFlow) -> set[str]:
        """Variables holding something read from a file in ``flow``, in source order."""
        loaded: set[str] = set()
        for event in flow.events:
            if isinstance(event, AssignEvent) and event.value is not None and self._from_file(event.value, loaded):
                loaded.update(event.targets)
        return loaded

    def _from_file(self, value: cst.BaseExpression, loaded: set[str]) -> bool:
        for node in walker.iter_nodes(value):
            if isinstance(node, cst.Call) and self.ctx.qualified_name(node.func) in _LOADERS:
                return True
            if isinstance(node, (cst.Name, cst.Attribute)) and dotted_name(node) in loaded:
                return True
        return False
