from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow
from nnlint.modes import known_models
from nnlint.names import dotted_name
from nnlint.patterns import module_construction
from nnlint.rule import Rule

_SAVE_CALLS = frozenset({"torch.save", "torch.serialization.save"})


class SaveWholeModel(Rule):
    code = "NN304"
    name = "save-whole-model"
    summary = "`torch.save(model, ...)` pickles the whole module instead of its `state_dict()`"
    what = (
        "Flags `torch.save(m, ...)` where `m` is known to be a module: built from a Module class "
        "in the same function, a `self.m` the class assigns a Module, a parameter annotated with a "
        "Module class, `self` inside a Module's method, or a Module constructor written in place."
    )
    why = (
        "Saving the module pickles the object graph with the import path of every class in it. "
        "The file cannot be loaded with `weights_only=True` (the default since torch 2.6), and it "
        "breaks as soon as a class is renamed, moved, or its code changes; loading it also runs "
        "whatever code those paths now point to."
    )
    use_instead = (
        "torch.save(model.state_dict(), \"model.pt\")\n"
        "# later: model = Net(); model.load_state_dict(torch.load(\"model.pt\", weights_only=True))\n"
    )
    fix_safety = "No fix is offered: the code that loads the file must change too."
    needs_flow = True
    triggers = ("save",)  # `torch.save` or an imported `save`
    VALID = [
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Linear(4, 2)\ntorch.save(model.state_dict(), 'model.pt')\n",
        # Dicts of state.
        "import torch\n\ndef checkpoint(model, optimizer, epoch, path):\n    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': epoch}, path)\n",
        # Not known to be a module.
        "import torch\n\ndef save(obj, path):\n    torch.save(obj, path)\n",
        "import torch\nfrom lib import build\n\nmodel = build()\ntorch.save(model, 'model.pt')\n",
        # Rebound to the state dict first.
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel = model.state_dict()\ntorch.save(model, 'model.pt')\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n\nmodel = Net().cuda()\ntorch.save(model, 'model.pt')  # error\n",
        "import torch\nfrom torch import nn\n\nclass Trainer:\n    def __init__(self):\n        self.model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())\n\n    def save(self, path):\n        torch.save(self.model, path)  # error\n",
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def export(self, path):\n        torch.save(self, path)  # error\n\ndef save_best(model: nn.Module, epoch: int):\n    torch.save(model, f'best_{epoch}.pt')  # error\n",
        "import torch\nimport torch.nn as nn\n\ntorch.save(nn.Linear(4, 2), 'linear.pt')  # error\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        for flow in self.ctx.flows:
            saves = [
                e for e in flow.calls()
                if e.node.args and e.node.args[0].keyword is None and self.ctx.qualified_name(e.node.func) in _SAVE_CALLS
            ]
            if saves:
                self._check(flow, [e.node for e in saves])

    def _check(self, flow: FunctionFlow, saves: list[cst.Call]) -> None:
        models: set[str] | None = None
        for call in saves:
            saved = call.args[0].value
            name = dotted_name(saved)
            if name is None:
                constructed = module_construction(self.ctx, saved)
                if constructed is None:
                    continue
                name = f"{constructed.rpartition('.')[2]}(...)"
            else:
                if models is None:
                    models = known_models(self.ctx, flow)
                if name not in models:
                    continue
            self.report(
                saved,
                f"`torch.save({name}, ...)` pickles the whole module (class paths and all): it cannot "
                f"be loaded with `weights_only=True` and breaks when the code moves; save "
                f"`{name if not name.endswith('(...)') else 'module'}.state_dict()` instead",
            )
