from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow, methods_of
from nnlint.rule import Rule
from nnlint.rules.loop._steps import BACKWARD, CLIP, OPT_STEP, Event, TrainingSteps, innermost_loop, training_steps


class GradClipMisplaced(Rule):
    code = "NN404"
    name = "grad-clip-misplaced"
    summary = "gradients are clipped after the optimizer step, or before `backward()` computes them"
    what = (
        "Flags `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` (and the `clip_grad_norm_` "
        "methods of accelerate / FSDP) that, within one iteration of the innermost loop around "
        "it, runs after `optimizer.step()` (with no step after it) or before `loss.backward()` "
        "(with no backward pass before it). Exclusive branches and same-file helpers are followed. "
        "Methods of custom optimizer wrapper classes (classes with their own `step` / `zero_grad`) "
        "are left alone."
    )
    why = (
        "Clipping only changes the `.grad` tensors the next `step()` reads. After the step it "
        "clips gradients that are about to be cleared; before `backward()` it clips zeros or the "
        "previous batch's gradients. Either way training runs unclipped -- and may diverge -- while "
        "the code looks protected."
    )
    use_instead = (
        "import torch\n\nfor x, y in loader:\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n"
        "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\n"
        "    optimizer.step()\n"
    )
    needs_flow = True
    VALID = [
        "import torch\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        model(x, y).backward()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n        optimizer.step()\n",
        # AMP: unscale, clip, step -- in one branch or the other.
        "from torch.nn.utils import clip_grad_norm_\n\ndef train(model, optimizer, scaler, loader, use_amp):\n    for x, y in loader:\n        optimizer.zero_grad()\n        loss = model(x, y)\n        if use_amp:\n            scaler.scale(loss).backward()\n            scaler.unscale_(optimizer)\n            clip_grad_norm_(model.parameters(), 1.0)\n            scaler.step(optimizer)\n            scaler.update()\n        else:\n            loss.backward()\n            clip_grad_norm_(model.parameters(), 1.0)\n            optimizer.step()\n",
        # Accumulation: the clip and the step share the step condition.
        "import torch.nn as nn\n\ndef train(model, optimizer, loader, k):\n    for i, (x, y) in enumerate(loader):\n        model(x, y).backward()\n        if (i + 1) % k == 0:\n            nn.utils.clip_grad_value_(model.parameters(), 0.5)\n            optimizer.step()\n            optimizer.zero_grad()\n",
        # A custom optimizer wrapper.
        "import torch\n\nclass ClippedOptimizer:\n    def __init__(self, optimizer, params):\n        self.optimizer = optimizer\n        self.params = params\n\n    def step(self):\n        self.optimizer.step()\n        torch.nn.utils.clip_grad_norm_(self.params, 1.0)\n\n    def zero_grad(self):\n        self.optimizer.zero_grad()\n",
        # The step comes at the start of the next iteration, after clipping.
        "import torch\n\ndef train(model, optimizer, loader):\n    for i, (x, y) in enumerate(loader):\n        if i > 0:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n            optimizer.step()\n            optimizer.zero_grad()\n        model(x, y).backward()\n",
    ]
    INVALID = [
        "import torch\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)  # error\n",
        "import torch\n\ndef train(model, optimizer, loader):\n    for batch_idx, (data, target) in enumerate(loader):\n        optimizer.zero_grad()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # error\n        loss = model(data, target)\n        loss.backward()\n        optimizer.step()\n",
        # Trainer class with accelerate.
        "class Trainer:\n    def train(self, loader):\n        for step, batch in enumerate(loader):\n            loss = self.model(**batch).loss\n            self.accelerator.backward(loss)\n            self.optimizer.step()\n            self.lr_scheduler.step()\n            if self.accelerator.sync_gradients:\n                self.accelerator.clip_grad_norm_(self.model.parameters(), 1.0)  # error\n            self.optimizer.zero_grad()\n",
        # A same-file helper that clips, called after the step.
        "from torch.nn.utils import clip_grad_norm_\n\ndef clip(model):\n    clip_grad_norm_(model.parameters(), 1.0)\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        model(x, y).backward()\n        optimizer.step()\n        clip(model)  # error\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = training_steps(self.ctx)
        for flow in self.ctx.flows:
            if flow.owner is not None and self._optimizer_wrapper(flow):
                continue
            events = steps.events(flow)
            if any(e.kind == CLIP for e in events):
                self._scan(steps, flow, events)

    def _optimizer_wrapper(self, flow: FunctionFlow) -> bool:
        owner = flow.owner
        assert owner is not None
        if any("optim" in base.lower() or "scaler" in base.lower() for base in owner.bases):
            return True
        if "optim" in owner.name.lower() or "scaler" in owner.name.lower():
            return True
        return bool({"step", "zero_grad"} & set(methods_of(self.ctx, owner)))

    def _scan(self, steps: TrainingSteps, flow: FunctionFlow, events: list[Event]) -> None:
        for clip in events:
            if clip.kind != CLIP:
                continue
            region = innermost_loop(clip)
            around = [e for e in events if e.kind in (BACKWARD, OPT_STEP) and e.in_region(region)]
            previous = [e for e in around if steps.reaches(flow, e, clip, region)]
            following = [e for e in around if steps.reaches(flow, clip, e, region)]
            before = previous[-1] if previous else None
            after = following[0] if following else None
            if before is not None and before.kind == OPT_STEP and (after is None or after.kind == BACKWARD):
                if not any(e.kind == BACKWARD for e in around):
                    continue
                if self._one_helper(clip, before, after):
                    continue
                self.report(
                    clip.node,
                    f"{clip.described} runs after {before.described}: the step has already used the "
                    f"unclipped gradients, and the clipped ones are cleared before the next step; clip "
                    f"after `backward()` and right before the step",
                )
            elif after is not None and after.kind == BACKWARD and (before is None or before.kind == OPT_STEP):
                if not any(e.kind == OPT_STEP and e.order > after.order for e in around):
                    continue
                if self._one_helper(clip, before, after):
                    continue
                self.report(
                    clip.node,
                    f"{clip.described} runs before {after.described} computes the gradients the next "
                    f"step uses, so it clips stale (or zero) gradients and the step runs unclipped; "
                    f"clip after `backward()` and right before the step",
                )

    @staticmethod
    def _one_helper(clip: Event, *others: Event | None) -> bool:
        """All inside one helper call: reported in the helper itself."""
        return clip.origin is not None and all(o is None or o.origin is clip.origin for o in others)
