from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow
from nnlint.rule import Rule
from nnlint.rules.loop._steps import (
    BACKWARD,
    CLEAR,
    OPT_STEP,
    OVERWRITE,
    Event,
    TrainingSteps,
    innermost_loop,
    training_steps,
)


def _whole_model(receiver: str) -> bool:
    """`model`, `self.model`, `self`: a whole model, not a sub-module (`model.encoder.zero_grad()`
    between backward and step is a deliberate way to keep one part from learning)."""
    parts = receiver.split(".")
    return len(parts) == 1 or (len(parts) == 2 and parts[0] == "self")


class ZeroGradMisplaced(Rule):
    code = "NN403"
    name = "zero-grad-misplaced"
    summary = "gradients are cleared between `backward()` and the optimizer step that needs them"
    what = (
        "Flags `optimizer.zero_grad()` (or `model.zero_grad()` on the model being trained, or a "
        "same-file helper that does it) that runs after `loss.backward()` and before "
        "`optimizer.step()` in the same iteration. Calls are ordered by source position within "
        "one iteration of the innermost loop around the step; branches that exclude each other "
        "and branches that end in `continue` / `break` / `return` / `raise` (skipping a bad batch) "
        "are understood."
    )
    why = (
        "`zero_grad()` wipes the gradients `backward()` just computed, so `step()` sees zeros "
        "(or `None`) and the weights never change. The loss curve stays flat and nothing errors."
    )
    use_instead = (
        "for x, y in loader:\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n"
        "    loss.backward()\n    optimizer.step()\n"
    )
    needs_flow = True
    VALID = [
        "def train(model, optimizer, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n",
        "def train(model, optimizer, loader):\n    for x, y in loader:\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n        optimizer.zero_grad(set_to_none=True)\n",
        # Skipping a non-finite loss: the clearing leaves the iteration.
        "import torch\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        loss = model(x, y)\n        loss.backward()\n        if not torch.isfinite(loss):\n            optimizer.zero_grad()\n            continue\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # Exclusive branches.
        "def train(model, optimizer, loader, skip):\n    for x, y in loader:\n        loss = model(x, y)\n        loss.backward()\n        if skip(loss):\n            optimizer.zero_grad()\n        else:\n            optimizer.step()\n",
        # Another optimizer's gradients (GAN), and a frozen sub-module.
        "def train(netG, netD, optG, optD, loader):\n    for real in loader:\n        optG.zero_grad()\n        lossG = netD(netG(real)).mean()\n        lossG.backward()\n        optD.zero_grad()\n        optG.step()\n",
        "def train(model, optimizer, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        model(x, y).backward()\n        model.encoder.zero_grad()\n        optimizer.step()\n",
        # A second backward pass follows the clearing.
        "def train(model, optimizer, loader):\n    for x, y in loader:\n        model(x).sum().backward()\n        optimizer.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n",
    ]
    INVALID = [
        "def train(model, optimizer, loader):\n    for x, y in loader:\n        loss = model(x, y)\n        loss.backward()\n        optimizer.zero_grad()  # error\n        optimizer.step()\n",
        # With gradient accumulation under a step condition.
        "def train(model, optimizer, loader, accumulation_steps):\n    for i, (inputs, labels) in enumerate(loader):\n        loss = model(inputs, labels) / accumulation_steps\n        loss.backward()\n        if (i + 1) % accumulation_steps == 0:\n            optimizer.zero_grad()  # error\n            optimizer.step()\n",
        # A trainer class clearing through the model.
        "import torch\n\nclass Trainer:\n    def __init__(self, model):\n        self.model = model\n        self.optimizer = torch.optim.Adam(model.parameters())\n\n    def fit(self, loader):\n        for batch in loader:\n            loss = self.model(batch)\n            loss.backward()\n            self.model.zero_grad()  # error\n            self.optimizer.step()\n",
        # A same-file helper that clears and steps, called after backward().
        "def optimizer_step(optimizer):\n    optimizer.zero_grad()\n    optimizer.step()\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        model(x, y).backward()\n        optimizer_step(optimizer)  # error\n",
        # Straight-line step function without a loop.
        "def training_step(model, optimizer, batch):\n    loss = model(*batch)\n    loss.backward()\n    optimizer.zero_grad()  # error\n    optimizer.step()\n    return loss\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = training_steps(self.ctx)
        for flow in self.ctx.flows:
            events = steps.events(flow)
            if any(e.kind == BACKWARD for e in events):
                self._scan(steps, flow, events)

    def _scan(self, steps: TrainingSteps, flow: FunctionFlow, events: list[Event]) -> None:
        reported: set[int] = set()
        for step in events:
            if step.kind != OPT_STEP:
                continue
            region = innermost_loop(step)
            before = [e for e in events if e.in_region(region) and steps.reaches(flow, e, step, region)]
            stepped = {e.key for e in events if e.kind == OPT_STEP and e.in_region(region) and e.key}
            clear = backward = None
            for event in reversed(before):
                if clear is None:
                    if event.kind in (BACKWARD, OVERWRITE):
                        break  # the nearest gradients before the step are fresh
                    if event.kind == CLEAR and self._clears_for(event, step, stepped):
                        clear = event
                elif event.kind == BACKWARD and steps.reaches(flow, event, clear, region):
                    backward = event
                    break
            if clear is None or backward is None or id(clear.node) in reported:
                continue
            if clear.origin is not None and clear.origin is step.origin is backward.origin:
                continue  # all inside one helper call: reported in the helper itself
            reported.add(id(clear.node))
            self.report(
                clear.node,
                f"{clear.described} clears the gradients that {backward.described} just computed, "
                f"before {step.described} uses them: the step sees no gradients and the weights do "
                f"not change; clear gradients before `backward()` (or after the step)",
            )

    @staticmethod
    def _clears_for(clear: Event, step: Event, stepped: set[str]) -> bool:
        if clear.key is not None:
            # The same optimizer, also when reached as `self.optimizer` in one place and
            # `optimizer` in another.
            return step.key is None or clear.key.rpartition(".")[2] == step.key.rpartition(".")[2]
        if clear.clears_model is not None:
            return _whole_model(clear.clears_model) and len(stepped) <= 1
        return False  # `p.grad = None` for some parameters: maybe a deliberate freeze
