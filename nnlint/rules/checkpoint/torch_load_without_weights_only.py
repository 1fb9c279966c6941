from __future__ import annotations

import libcst as cst

from nnlint.patterns import keyword, keyword_appended
from nnlint.rule import Invalid, NodeFix, Rule

_LOAD_CALLS = frozenset({"torch.load", "torch.serialization.load"})


class TorchLoadWithoutWeightsOnly(Rule):
    code = "NN302"
    name = "torch-load-without-weights-only"
    summary = "`torch.load(...)` without `weights_only=`"
    what = (
        "Flags `torch.load(...)` calls that do not pass `weights_only=` (and no `**kwargs` that "
        "could). Calls inside an `except TypeError:` handler stay silent: that is the usual "
        "fallback for torch versions that do not know the argument. Off by default: where torch "
        ">= 2.6 is required the default is already `True` and every finding is only a style "
        "point; turn it on (`--extend-select NN302`) for code that must also run on older torch "
        "or that loads files from others."
    )
    why = (
        "`torch.load` unpickles: with `weights_only=False` loading a checkpoint can run arbitrary "
        "code. The default changed from `False` to `True` in torch 2.6, so the same line behaves "
        "differently -- or fails with `UnpicklingError` -- depending on the installed version. "
        "`weights_only=True` (tensors, dicts, primitive types only) makes the safe choice explicit "
        "on every version (torch < 2.6 could be tricked past it: CVE-2025-32434); "
        "`weights_only=False` documents a deliberate choice for trusted files."
    )
    use_instead = "state = torch.load(path, map_location=\"cpu\", weights_only=True)\n"
    fix_safety = (
        "Unsafe: `weights_only=True` refuses checkpoints that pickle arbitrary objects (whole "
        "models, custom classes, optimizer wrappers); such files need `weights_only=False` and a "
        "trusted source, or `torch.serialization.add_safe_globals`."
    )
    fix_availability = "unsafe"
    default_enabled = False
    triggers = ("load",)  # `torch.load` or an imported `load`
    VALID = [
        "import torch\n\nstate = torch.load('model.pt', map_location='cpu', weights_only=True)\n",
        # A deliberate choice either way.
        "import torch\n\ncheckpoint = torch.load('trusted.pt', weights_only=False)\n",
        # `**kwargs` may carry it.
        "import torch\n\ndef load(path, **kwargs):\n    return torch.load(path, **kwargs)\n",
        # Other libraries' `load`.
        "import safetensors.torch\nimport pickle\n\nstate = safetensors.torch.load(data)\nobj = pickle.load(f)\n",
        # The fallback for torch versions without the argument.
        "import torch\n\ndef load(path):\n    try:\n        return torch.load(path, weights_only=True)\n    except TypeError:\n        return torch.load(path)\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\nmodel.load_state_dict(torch.load('model.pt'))  # error\n",
            fixed="import torch\n\nmodel.load_state_dict(torch.load('model.pt', weights_only=True))  # error\n",
        ),
        Invalid(
            "from torch import load\n\ndef resume(path, model, optimizer):\n    checkpoint = load(path, map_location='cpu')  # error\n    model.load_state_dict(checkpoint['model'])\n    optimizer.load_state_dict(checkpoint['optimizer'])\n",
            fixed="from torch import load\n\ndef resume(path, model, optimizer):\n    checkpoint = load(path, map_location='cpu', weights_only=True)  # error\n    model.load_state_dict(checkpoint['model'])\n    optimizer.load_state_dict(checkpoint['optimizer'])\n",
        ),
        Invalid(
            "import torch as th\n\nclass Trainer:\n    def restore(self, path):\n        state = th.load(  # error\n            path,\n            map_location=self.device,\n        )\n        self.model.load_state_dict(state)\n",
            fixed="import torch as th\n\nclass Trainer:\n    def restore(self, path):\n        state = th.load(  # error\n            path,\n            map_location=self.device, weights_only=True,\n        )\n        self.model.load_state_dict(state)\n",
        ),
    ]

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self._compat_handlers = 0  # enclosing `except TypeError:` handlers

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if _catches_type_error(node):
            self._compat_handlers += 1

    def leave_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if _catches_type_error(node):
            self._compat_handlers -= 1

    def visit_Call(self, node: cst.Call) -> None:
        if self._compat_handlers or self.ctx.qualified_name(node.func) not in _LOAD_CALLS:
            return
        if keyword(node, "weights_only") is not None or any(arg.star == "**" for arg in node.args):
            return
        replacement = keyword_appended(self.ctx, node, "weights_only=True")
        self.report(
            node,
            "`torch.load` without `weights_only=` unpickles arbitrary objects (code execution from an "
            "untrusted file) and its default changed in torch 2.6; pass `weights_only=True` "
            "(or `weights_only=False` for a trusted file that needs it)",
            fix=NodeFix("pass `weights_only=True`", "unsafe", (replacement,)) if replacement else None,
        )


def _catches_type_error(handler: cst.ExceptHandler) -> bool:
    caught = handler.type
    names = [el.value for el in caught.elements] if isinstance(caught, cst.Tuple) else [caught]
    return any(isinstance(name, cst.Name) and name.value == "TypeError" for name in names)
