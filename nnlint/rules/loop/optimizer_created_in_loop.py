from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow
from nnlint.rule import Rule
from nnlint.rules.loop._steps import (
    BACKWARD,
    LOOP_TYPES,
    MODEL_NEW,
    OPT_NEW,
    OPT_STEP,
    Event,
    loop_label,
    training_steps,
)


def _state_of(text: str) -> str:
    """What the optimizer keeps between steps, in words, by its class name."""
    name = text.partition("(")[0].rpartition(".")[2].lower()
    if name.startswith("sgd"):
        return "momentum buffers"
    if "adam" in name or name in ("lamb", "lion", "nadam", "radam", "adamax"):
        return "moment estimates and step count"
    return "per-parameter buffers and step count"


class OptimizerCreatedInLoop(Rule):
    code = "NN406"
    name = "optimizer-created-in-loop"
    summary = "an optimizer is built anew in every iteration of a training loop"
    what = (
        "Flags `torch.optim.X(...)` (and optimizer classes of other packages, such as "
        "`timm.optim.*`) built unconditionally inside a loop that trains -- one that calls "
        "`backward()` or steps an optimizer, directly or through a same-file helper -- and a call "
        "of a same-file helper that builds one, made in such a loop. Silent when the loop also "
        "builds or reloads the model (k-fold, hyper-parameter sweeps), when the optimizer is built "
        "over tensors made in the same iteration, when it is built under a condition "
        "(`if epoch == unfreeze_at:`), and for plain SGD without momentum, which has no state."
    )
    why = (
        "An optimizer's state -- momentum buffers, Adam's moment estimates and step count -- lives "
        "in the optimizer object. Building a new one each epoch or step throws that state away: "
        "Adam restarts its bias correction, momentum restarts from zero, and training behaves "
        "like a different (worse) optimizer. Changing the learning rate is done through "
        "`param_groups` or a scheduler."
    )
    use_instead = (
        "import torch\n\noptimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
        "for epoch in range(epochs):\n    for x, y in loader:\n        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n        optimizer.step()\n"
    )
    needs_flow = True
    VALID = [
        "import torch\n\ndef train(model, loader):\n    optimizer = torch.optim.Adam(model.parameters())\n    for epoch in range(10):\n        for x, y in loader:\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n",
        # k-fold: the model is rebuilt in the same loop.
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n\ndef cross_validate(folds):\n    for fold, (train_loader, val_loader) in enumerate(folds):\n        model = Net()\n        optimizer = torch.optim.Adam(model.parameters())\n        for x, y in train_loader:\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n",
        # A sweep that builds the model through a factory.
        "import torch\n\ndef sweep(create_model, loader, learning_rates):\n    for lr in learning_rates:\n        model = create_model()\n        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)\n        for x, y in loader:\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n",
        # One optimizer per model of a list.
        "import torch\n\ndef train_all(models, loader):\n    for model in models:\n        opt = torch.optim.Adam(model.parameters())\n        for x, y in loader:\n            opt.zero_grad()\n            model(x, y).backward()\n            opt.step()\n",
        # Rebuilt once, when layers are unfrozen.
        "import torch\n\ndef finetune(model, loader, unfreeze_at):\n    opt = torch.optim.Adam(model.head.parameters())\n    for epoch in range(10):\n        if epoch == unfreeze_at:\n            opt = torch.optim.Adam(model.parameters(), lr=1e-5)\n        for x, y in loader:\n            opt.zero_grad()\n            model(x, y).backward()\n            opt.step()\n",
        # Latent optimisation over a fresh tensor each step; plain SGD has no state.
        "import torch\n\ndef guide(unet, latents, timesteps):\n    for t in timesteps:\n        x = latents.detach().clone().requires_grad_(True)\n        opt = torch.optim.Adam([x], lr=0.05)\n        unet(x, t).sum().backward()\n        opt.step()\n        latents = x.detach()\n",
        "import torch\n\ndef train(model, loader, lr_at):\n    for epoch in range(10):\n        optimizer = torch.optim.SGD(model.parameters(), lr=lr_at(epoch))\n        for x, y in loader:\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n",
        # A loop that does not train: building one optimizer per parameter group.
        "import torch\n\ndef build(groups):\n    optimizers = []\n    for group in groups:\n        optimizers.append(torch.optim.Adam(group))\n    return optimizers\n",
    ]
    INVALID = [
        "import torch\n\ndef train(model, loader, epochs):\n    for epoch in range(epochs):\n        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # error\n        for x, y in loader:\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n",
        # In the step loop itself.
        "import torch.optim as optim\n\ndef train(model, loader, criterion):\n    for batch_idx, (data, target) in enumerate(loader):\n        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # error\n        optimizer.zero_grad()\n        loss = criterion(model(data), target)\n        loss.backward()\n        optimizer.step()\n",
        # A manual learning-rate decay that also resets momentum.
        "import torch\n\nclass Trainer:\n    def fit(self, loader, epochs):\n        for epoch in range(epochs):\n            lr = 0.1 * (0.5 ** (epoch // 10))\n            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)  # error\n            self.train_one_epoch(loader)\n\n    def train_one_epoch(self, loader):\n        for images, labels in loader:\n            self.optimizer.zero_grad()\n            self.model(images, labels).backward()\n            self.optimizer.step()\n",
        # A same-file epoch helper that builds its own optimizer, called every epoch.
        "import torch\n\ndef train_epoch(model, loader):\n    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)\n    for x, y in loader:\n        optimizer.zero_grad()\n        model(x, y).backward()\n        optimizer.step()\n\ndef main(model, loader):\n    for epoch in range(20):\n        train_epoch(model, loader)  # error\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = training_steps(self.ctx)
        for flow in self.ctx.flows:
            events = steps.events(flow)
            if any(e.kind == OPT_NEW and e.loops for e in events):
                self._scan(flow, events)

    def _scan(self, flow: FunctionFlow, events: list[Event]) -> None:
        reported: set[int] = set()
        for built in events:
            if built.kind != OPT_NEW or built.fresh or built.stateless or built.conditional:
                continue
            # Built inside a loop of a helper: the helper's own analysis covers it.
            if not built.loops or not isinstance(built.loops[-1], LOOP_TYPES):
                continue
            loop = next((lp for lp in reversed(built.loops) if self._trains(lp, events)), None)
            if loop is None or id(built.node) in reported:
                continue
            if self._branches_between(built, loop) or any(e.kind == MODEL_NEW and loop in e.loops for e in events):
                continue
            reported.add(id(built.node))
            where = loop_label(self.ctx.module, loop)
            state = _state_of(built.text)
            if built.via is None:
                message = (
                    f"`{built.text}` builds a new optimizer in every iteration of this {where}, so its "
                    f"state ({state}) restarts each time; build it once before the loop (change the "
                    f"learning rate through `param_groups` or a scheduler)"
                )
            else:
                message = (
                    f"`{built.via}()` builds a new `{built.text}` each time it is called, and this "
                    f"{where} calls it every iteration, so the optimizer's state ({state}) restarts "
                    f"each time; build the optimizer once before the loop and pass it in"
                )
            self.report(built.node, message)

    @staticmethod
    def _trains(loop: cst.CSTNode, events: list[Event]) -> bool:
        return isinstance(loop, LOOP_TYPES) and any(
            e.kind in (BACKWARD, OPT_STEP) and loop in e.loops for e in events
        )

    @staticmethod
    def _branches_between(built: Event, loop: cst.CSTNode) -> bool:
        """Built under an if (or match case) inside the loop: not every iteration."""
        inside = False
        for node, _ in built.path:
            if node is loop:
                inside = True
            elif inside and isinstance(node, (cst.If, cst.Match)):
                return True
        return False
