from __future__ import annotations

import libcst as cst

from nnlint.flow import AssignEvent, CallEvent, FunctionFlow
from nnlint.modes import (
    EXPLICIT_TRAIN,
    MODE_NEUTRAL_CALLS,
    TRAIN,
    UNKNOWN,
    ModeModel,
    bind_arguments,
    is_prediction,
    is_training_step,
    mode_change,
)
from nnlint.names import dotted_name
from nnlint.patterns import module_class_call
from nnlint.rule import Rule


class MissingEvalBeforeInference(Rule):
    code = "NN201"
    name = "missing-eval-before-inference"
    summary = "a model is run for inference while still in training mode"
    what = (
        "Flags a model called for inference -- inside `torch.no_grad()` / `torch.inference_mode()`, "
        "in a function decorated with them, in an evaluate/validate/predict function, or right "
        "after loading weights in a function that does not train -- when no `.eval()` (or "
        "`.train(False)`) reaches it first. It follows same-file helpers: `evaluate(model)` that "
        "runs the model without switching it is flagged at the call site when the caller never "
        "called `model.eval()`, and helpers of other project files through their summaries "
        "(`from utils import evaluate`). Models are followed where scripts keep them: built in the "
        "function, at module level of a script (read as a global), or as `self.model` of a trainer "
        "class that nothing ever switches to eval mode. It stays silent where eval mode cannot "
        "matter or the call is not a prediction: a model whose class (as far as the project and the "
        "library table show) has no dropout with p > 0, no batch norm with running statistics and "
        "no `self.training` branch -- losses and criteria included; a forward call whose output is "
        "dropped (a dry run that initialises lazy modules) or only described (`out.shape`, "
        "`y.size()`: a shape smoke test). A class nnlint cannot see counts as mode-sensitive."
    )
    why = (
        "Modules start in training mode. `torch.no_grad()` only stops gradient tracking: dropout "
        "still drops activations and batch norm still normalises with batch statistics (and updates "
        "its running averages), so predictions are noisy, batch-size dependent and worse than they "
        "should be -- silently."
    )
    use_instead = (
        "model = Net()\nmodel.load_state_dict(torch.load(\"model.pt\", weights_only=True))\n"
        "model.eval()\nwith torch.no_grad():\n    output = model(data)\n"
    )
    fix_safety = "No fix is offered: where `.eval()` belongs (and where `.train()` must come back) needs a human."
    needs_flow = True
    VALID = [
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))\nmodel.eval()\nwith torch.no_grad():\n    out = model(torch.randn(1, 4))\n",
        # Forward calls inside a Module's own methods are not inference calls.
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.body = nn.Linear(4, 4)\n\n    @torch.no_grad()\n    def embed(self, x):\n        return self.body(x)\n",
        # The caller put the model in eval mode before calling the helper.
        "import torch\nimport torch.nn as nn\n\ndef evaluate(model, x):\n    with torch.no_grad():\n        return model(x)\n\nmodel = nn.Linear(4, 2)\nmodel.eval()\nevaluate(model, torch.randn(1, 4))\n",
        # Monte-Carlo dropout: put back in train mode on purpose.
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))\nmodel.eval()\nmodel.train()\nwith torch.no_grad():\n    samples = [model(torch.randn(1, 4)) for _ in range(10)]\n",
        # The helper switches the model itself.
        "import torch\nimport torch.nn as nn\n\ndef validate(model, x):\n    model.eval()\n    with torch.no_grad():\n        return model(x)\n\nmodel = nn.Linear(4, 2)\nvalidate(model, torch.randn(1, 4))\n",
        # A model handed to code nnlint cannot see: stay silent.
        "import torch\nfrom lib import prepare\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 2), nn.Dropout())\nprepare(model)\nwith torch.no_grad():\n    out = model(torch.randn(1, 4))\n",
        # A loss module is not a model: the helper switches the model, and the criterion has no mode.
        "import torch\nimport torch.nn as nn\n\ndef evaluate(model, loader, criterion):\n    model.eval()\n    total = 0.0\n    with torch.no_grad():\n        for x, y in loader:\n            total += criterion(model(x), y).item()\n    return total\n\nmodel = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.1))\ncriterion = nn.CrossEntropyLoss()\nscore = evaluate(model, [], criterion)\n",
        # Nothing in the class behaves differently in eval mode (no dropout, no batch norm).
        "import torch\nimport torch.nn as nn\n\nclass GCNLayer(nn.Module):\n    def __init__(self, c_in, c_out):\n        super().__init__()\n        self.projection = nn.Linear(c_in, c_out)\n        self.drop = nn.Dropout(0.0)\n\n    def forward(self, x):\n        return self.drop(self.projection(x))\n\nlayer = GCNLayer(2, 2)\nwith torch.no_grad():\n    out = layer(torch.randn(3, 2))\nprint(out)\n",
        # A dry run that initialises lazy modules: the output is dropped.
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.LazyLinear(8), nn.BatchNorm1d(8))\nwith torch.no_grad():\n    model(torch.randn(2, 4))\n",
        # A shape smoke test: only the output's shape is looked at.
        "import torch\nimport torch.nn as nn\n\nclass VGG(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n\n    def forward(self, x):\n        return self.features(x)\n\ndef test():\n    net = VGG()\n    y = net(torch.randn(2, 3, 32, 32))\n    print(y.size())\n",
        # A trainer whose model is put in eval mode by the class (in another method).
        "import torch\nimport torch.nn as nn\n\nclass Trainer:\n    def __init__(self):\n        self.model = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5))\n\n    def validate(self, x):\n        with torch.no_grad():\n            return self.model(x)\n\n    def fit(self, x):\n        self.model.eval()\n        return self.validate(x)\n",
    ]
    INVALID = [
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))\nmodel.load_state_dict(torch.load('model.pt', weights_only=True))\nwith torch.no_grad():\n    out = model(torch.randn(1, 4))  # error\nprint(out.argmax(1))\n",
        # Validation inside the epoch loop after training, without eval().
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.body = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))\n\ndef train(loader, val_x, val_y):\n    model = Net()\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n    for epoch in range(10):\n        model.train()\n        for x, y in loader:\n            loss = (model(x) - y).pow(2).mean()\n            opt.zero_grad()\n            loss.backward()\n            opt.step()\n        with torch.no_grad():\n            val = model(val_x)  # error\n        print((val - val_y).abs().mean())\n",
        # A same-file helper runs the model for inference; the caller never switched it.
        "import torch\nimport torch.nn as nn\n\ndef evaluate(model, x):\n    with torch.no_grad():\n        return model(x)\n\nmodel = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.2))\nscore = evaluate(model, torch.randn(1, 4))  # error\n",
        # Loads weights and predicts, without no_grad and without eval().
        "import torch\nimport torch.nn as nn\n\nclass Classifier(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.norm = nn.BatchNorm2d(3)\n\ndef predict(path, image):\n    model = Classifier()\n    model.load_state_dict(torch.load(path, weights_only=True))\n    return model(image)  # error\n",
        # A trainer class: `self.model` is built in `__init__`, run for evaluation behind a flag,
        # and nothing anywhere switches it to eval mode.
        "import torch\nimport torch.nn as nn\n\nclass Trainer:\n    def __init__(self):\n        self.model = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5))\n        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)\n\n    def run_epoch(self, loader, train=True):\n        for x, y in loader:\n            if train:\n                loss = (self.model(x) - y).pow(2).mean()\n                self.opt.zero_grad()\n                loss.backward()\n                self.opt.step()\n            else:\n                with torch.no_grad():\n                    pred = self.model(x)  # error\n                    print((pred - y).abs().mean())\n",
        # A script's module-level model, read as a global by the helper that predicts.
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2))\n\ndef predict(x):\n    with torch.no_grad():\n        return model(x).argmax(1)\n\nif __name__ == '__main__':\n    labels = predict(torch.randn(8, 4))  # error\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        model = ModeModel(self.ctx)
        for flow in self.ctx.flows:
            if flow.owner is not None and self.ctx.is_module_class(flow.owner):
                continue  # calls inside a Module's own methods are part of its forward
            self._scan(model, flow)

    def _scan(self, model: ModeModel, flow: FunctionFlow) -> None:
        tracked = model.sensitive_models(flow)
        if not tracked:
            return
        # A trainer's `self.model`, built in train mode and never switched anywhere: whichever
        # method runs it for inference, it is still in training mode there.
        state: dict[str, str] = {key: TRAIN for key in model.never_switched_attributes(flow) & tracked}
        loaded: set[str] = set()
        reported: set[str] = set()
        trains_here = any(is_training_step(e) for e in flow.calls())

        def set_state(key: str, value: str) -> None:
            state[key] = value
            reported.discard(key)

        for event in flow.events:
            if isinstance(event, AssignEvent):
                for target in event.targets:
                    if target in tracked:
                        set_state(target, self._assigned_state(event, state))
                continue
            if is_training_step(event):
                for key, value in state.items():
                    if value == EXPLICIT_TRAIN:
                        state[key] = TRAIN
            change = mode_change(event)
            if change is not None and event.receiver in tracked:
                set_state(event.receiver, change)
                continue
            if event.method == "load_state_dict" and event.receiver in tracked:
                loaded.add(event.receiver)
                continue
            callee = model.callee(flow, event)
            if callee is not None:
                self._apply_helper(model, flow, callee, event, state, tracked, set_state)
                continue
            foreign = model.foreign_helper(event)
            if foreign is not None:
                self._apply_foreign_helper(model, foreign, event, state, tracked, set_state)
                continue
            forward_of = event.func if event.func in tracked else None
            if forward_of is None and event.method == "forward" and event.receiver in tracked:
                forward_of = event.receiver
            if forward_of is not None:
                inference = model.is_inference(flow, event) or (forward_of in loaded and not trains_here)
                if (
                    inference
                    and state.get(forward_of) == TRAIN
                    and forward_of not in reported
                    and is_prediction(self.ctx, flow, event.node)
                ):
                    reported.add(forward_of)
                    self.report(
                        event.node,
                        f"`{forward_of}` is called for inference while still in training mode "
                        f"(dropout and batch norm act as in training); call `{forward_of}.eval()` before "
                        f"this (and `{forward_of}.train()` before training resumes)",
                    )
                continue
            if event.func not in MODE_NEUTRAL_CALLS:
                for arg in event.node.args:
                    key = dotted_name(arg.value)
                    if key in tracked and key in state:
                        state[key] = UNKNOWN  # handed to code nnlint cannot see

    def _assigned_state(self, event: AssignEvent, state: dict[str, str]) -> str:
        value = event.value
        if value is None:
            return UNKNOWN
        if isinstance(value, cst.Call):
            # `model = nn.DataParallel(model)` keeps the wrapped model's mode.
            for arg in value.args:
                key = dotted_name(arg.value)
                if key is not None and key in state:
                    return state[key]
            if module_class_call(self.ctx, value) is not None:
                return TRAIN
            root = value
            while isinstance(root, cst.Call) and isinstance(root.func, cst.Attribute):
                root = root.func.value
            key = dotted_name(root)
            if key is not None and key in state:
                return state[key]  # `model = model.to(device)`; mode calls in the chain follow
        return UNKNOWN

    def _apply_helper(self, model, flow, callee, event: CallEvent, state, tracked, set_state) -> None:  # type: ignore[no-untyped-def]
        summary = model.summary(callee)
        mapping = model.translate(callee, event)
        self._apply_effects(callee.name, "", summary.trains, summary.infers, summary.effect, mapping, event, state, tracked, set_state)

    def _apply_foreign_helper(self, model, facts, event: CallEvent, state, tracked, set_state) -> None:  # type: ignore[no-untyped-def]
        """A helper of another project file, through its summary (what it does to each parameter)."""
        mapping = {param: outer for param, outer in bind_arguments(facts.params, event).items() if param in facts.params}
        self._apply_effects(facts.name, " (in another file)", facts.trains, facts.infers, facts.effect, mapping, event, state, tracked, set_state)

    def _apply_effects(self, name, where, trains, infers, effect, mapping, event: CallEvent, state, tracked, set_state) -> None:  # type: ignore[no-untyped-def]
        """What a helper does to the caller's models: a training step ends MC-dropout intent,
        an inference run of a model still in training mode is reported here, and the helper's
        last mode switch carries over."""
        if trains:
            for key, value in state.items():
                if value == EXPLICIT_TRAIN:
                    state[key] = TRAIN
        for param, outer in mapping.items():
            if outer not in tracked:
                continue
            if param in infers and state.get(outer) == TRAIN:
                self.report(
                    event.node,
                    f"`{name}()`{where} runs `{outer}` for inference, but `{outer}` is still in "
                    f"training mode here; call `{outer}.eval()` before this call (or inside `{name}`)",
                )
            if param in effect:
                set_state(outer, effect[param])
