from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow
from nnlint.rule import Rule
from nnlint.rules.distributed._amp import (
    SCALER_HANDED,
    SCALER_STEP,
    SCALER_UPDATE,
    UNSCALE,
    AmpSteps,
    amp_steps,
    opposite_conditions,
    scaler_absent,
)
from nnlint.rules.distributed._unscale_paths import UnscalePaths
from nnlint.rules.loop._steps import LOOP_TYPES, OPT_STEP, Event, common_loop, loop_label


class ScalerStepBypassed(Rule):
    code = "NN702"
    name = "scaler-step-bypassed"
    summary = "gradients scaled by a GradScaler are stepped without it, or the scaler is never updated"
    what = (
        "Flags `optimizer.step()` that runs after `scaler.scale(loss).backward()` in the same "
        "iteration (so it applies the scaled gradients) -- also after `scaler.unscale_()`, "
        "since stepping outside the scaler still skips its inf/nan check -- and "
        "`scaler.step(optimizer)` in a loop that never calls `scaler.update()`. Same-file helpers "
        "are followed; a plain step in the branch without the scaler (`else:` of `if use_amp:` or "
        "of `if scaler is not None:`, also when the scaled backward pass and the step sit under two "
        "`if` statements testing the same condition) is left alone. The scaler must be known as a `GradScaler` "
        "(see NN701); one built with a literal `enabled=False` is left alone, and a loop that "
        "hands the scaler to code nnlint cannot see (which may update it) is too. Also flags "
        "`scaler.unscale_(optimizer)` on a path of a loop that reaches the next `unscale_` of the "
        "same optimizer without `scaler.update()` -- the update skipped together with the step "
        "(`if norm <= limit: scaler.step(opt); scaler.update()`), or a `continue` between them -- "
        "in a loop that updates the scaler on its other paths; `break` / `return` end the path, "
        "and two `if` statements testing the same expression take the same arm."
    )
    why = (
        "`scaler.scale(loss).backward()` leaves every gradient multiplied by the loss scale "
        "(65536 at the start). `optimizer.step()` applies them as they are: a step 65536 times too "
        "large, and steps on inf/nan gradients -- which `scaler.step` would skip -- go through "
        "and corrupt the weights. `scaler.update()` after the step is what lowers the scale after "
        "an overflow and raises it again later; without it the next `scaler.step` raises "
        "(\"step() has already been called since the last update()\") or, with the call "
        "guarded away, the scale never adapts. `unscale_` likewise marks the optimizer until the "
        "next `update()`; a second `unscale_` before it raises (\"unscale_() has already been "
        "called on this optimizer since the last update()\")."
    )
    use_instead = (
        "for x, y in loader:\n    optimizer.zero_grad()\n    with torch.autocast('cuda'):\n"
        "        loss = criterion(model(x), y)\n    scaler.scale(loss).backward()\n"
        "    scaler.step(optimizer)\n    scaler.update()\n"
    )
    needs_flow = True
    triggers = ("scaler", "Scaler")
    VALID = [
        "import torch\n\ndef train(model, optimizer, loader):\n    scaler = torch.amp.GradScaler('cuda')\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.autocast('cuda'):\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        scaler.step(optimizer)\n        scaler.update()\n",
        # The plain step is in the branch without scaling.
        "def train(model, optimizer, scaler, loader, use_amp):\n    for x, y in loader:\n        loss = model(x, y)\n        if use_amp:\n            scaler.scale(loss).backward()\n            scaler.step(optimizer)\n            scaler.update()\n        else:\n            loss.backward()\n            optimizer.step()\n        optimizer.zero_grad()\n",
        # Several optimizers stepped through one scaler, one update per iteration.
        "def train(models, optimizers, scaler, loader):\n    for batch in loader:\n        for model, opt in zip(models, optimizers):\n            scaler.scale(model(batch)).backward()\n            scaler.step(opt)\n        scaler.update()\n        for opt in optimizers:\n            opt.zero_grad()\n",
        # Accumulation: update in the branch that steps; a same-file helper updates.
        "def finish_step(scaler, optimizer):\n    scaler.step(optimizer)\n    scaler.update()\n    optimizer.zero_grad()\n\ndef train(model, optimizer, scaler, loader, accum):\n    for i, (x, y) in enumerate(loader):\n        scaler.scale(model(x, y) / accum).backward()\n        if (i + 1) % accum == 0:\n            finish_step(scaler, optimizer)\n",
        # A scaler switched off never scales.
        "import torch\n\nscaler = torch.cuda.amp.GradScaler(enabled=False)\nfor x, y in loader:\n    scaler.scale(model(x, y)).backward()\n    optimizer.step()\n    optimizer.zero_grad()\n",
        # Skipping the step after `unscale_` is fine as long as the scaler is updated.
        "import torch\n\ndef train(model, optimizer, loader, limit):\n    scaler = torch.amp.GradScaler('cuda')\n    for x, y in loader:\n        with torch.autocast('cuda'):\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        scaler.unscale_(optimizer)\n        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n        if norm.item() <= limit:\n            scaler.step(optimizer)\n        scaler.update()\n        optimizer.zero_grad()\n",
        # A step function called by a framework nnlint cannot see: no loop here to judge.
        "class Task:\n    def training_step(self, batch):\n        self.scaler.scale(self.model(batch)).backward()\n        self.scaler.step(self.optimizer)\n",
    ]
    INVALID = [
        "import torch\n\ndef train(model, optimizer, loader):\n    scaler = torch.cuda.amp.GradScaler()\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.cuda.amp.autocast():\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        optimizer.step()  # error\n        scaler.update()\n",
        # Unscaled first and stepped directly: inf/nan steps are no longer skipped.
        "import torch\n\nscaler = torch.amp.GradScaler('cuda')\nfor x, y in loader:\n    with torch.autocast('cuda'):\n        loss = model(x, y)\n    scaler.scale(loss).backward()\n    scaler.unscale_(optimizer)\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n    optimizer.step()  # error\n    optimizer.zero_grad()\n",
        # Stepped through the scaler, never updated.
        "import torch\n\nclass Trainer:\n    def __init__(self, model, optimizer):\n        self.model, self.optimizer = model, optimizer\n        self.scaler = torch.cuda.amp.GradScaler()\n\n    def train_epoch(self, loader):\n        for x, y in loader:\n            self.optimizer.zero_grad()\n            with torch.autocast('cuda'):\n                loss = self.model(x, y)\n            self.scaler.scale(loss).backward()\n            self.scaler.step(self.optimizer)  # error\n",
        # Step and update skipped together after `unscale_` (LVSM): the next `unscale_` raises.
        "import torch\n\ndef train(model, optimizer, loader, limit):\n    scaler = torch.amp.GradScaler('cuda')\n    for x, y in loader:\n        with torch.autocast('cuda'):\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        scaler.unscale_(optimizer)  # error\n        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n        if norm.item() <= limit:\n            scaler.step(optimizer)\n            scaler.update()\n        optimizer.zero_grad()\n",
        # The scaled backward pass is in a same-file helper; the loop steps directly.
        "def backward(loss, scaler):\n    scaler.scale(loss).backward()\n\ndef train(model, optimizer, scaler, loader):\n    for x, y in loader:\n        backward(model(x, y), scaler)\n        optimizer.step()  # error\n        scaler.update()\n        optimizer.zero_grad()\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = amp_steps(self.ctx)
        for flow in self.ctx.flows:
            events = steps.events(flow)
            if any(e.kind in (OPT_STEP, SCALER_STEP) for e in events):
                self._bypassed(steps, flow, events)
                self._never_updated(flow, events)
            if any(e.kind == UNSCALE for e in events):
                self._unscaled_twice(steps, flow, events)

    def _bypassed(self, steps: AmpSteps, flow: FunctionFlow, events: list[Event]) -> None:
        for step in events:
            if step.kind != OPT_STEP or self._helper_chooses(step, events):
                continue
            for backward in events:
                scaler = steps.backward_scaler(flow, backward)
                if scaler is None or scaler_absent(step, scaler):
                    continue
                region = common_loop(backward, step)
                if not steps.reaches(flow, backward, step, region):
                    continue
                if opposite_conditions(backward, step, self.ctx.module):
                    continue  # `if amp: scaled backward` ... `if amp: scaler.step else: opt.step()`
                if step.origin is not None and step.origin is backward.origin:
                    continue  # both inside one helper call: reported in the helper itself
                optimizer = step.key or "optimizer"
                self.report(
                    step.node,
                    f"{step.described} applies the gradients that {backward.described} left "
                    f"multiplied by the loss scale, and skips `{scaler}`'s inf/nan check; step with "
                    f"`{scaler}.step({optimizer})` followed by `{scaler}.update()`",
                )
                break

    @staticmethod
    def _helper_chooses(step: Event, events: list[Event]) -> bool:
        """A plain step under an `if` inside a helper that also steps through the scaler: the
        helper picks one of them (`if scaler is not None: scaler.step(opt) else: opt.step()`),
        which its inlined events no longer show."""
        return step.conditional and any(e.kind == SCALER_STEP and e.origin is step.origin for e in events)

    def _unscaled_twice(self, steps: AmpSteps, flow: FunctionFlow, events: list[Event]) -> None:
        """`scaler.unscale_(opt)` on a path of a loop that reaches the next `unscale_(opt)` with no
        `scaler.update()` in between (the update skipped together with the step, or a `continue`
        before it): the second `unscale_` raises. Only loops that do update the scaler somewhere
        (a loop that never does is `_never_updated`'s); see ``_unscale_paths``."""
        layout = steps.layout(flow)
        distinct = frozenset(name.partition(".")[0] for names in layout.loop_targets.values() for name in names)
        reported: set[int] = set()
        for unscale in events:
            if unscale.kind != UNSCALE or not unscale.names:
                continue
            if unscale.origin is not None and unscale.origin in unscale.loops:
                continue  # unscaled in a loop of the helper: judged in the helper
            scaler = next(iter(unscale.names))
            for loop in reversed(unscale.loops):
                if not isinstance(loop, LOOP_TYPES):
                    continue
                inside = [e for e in events if loop in e.loops]
                if not any(e.kind == SCALER_UPDATE and scaler in e.names for e in inside):
                    continue
                paths = UnscalePaths(self.ctx.module, inside, scaler, distinct)
                paths.run(loop)
                for pending in paths.repeated:
                    event = paths.unscales[pending]
                    if id(event.node) in reported:
                        continue
                    reported.add(id(event.node))
                    self.report(
                        event.node,
                        f"{event.described} runs on a path of this {loop_label(self.ctx.module, loop)} that "
                        f"reaches the next `{scaler}.unscale_()` of the same optimizer without "
                        f"`{scaler}.update()` (the update is skipped with the step, or a `continue` "
                        f"skips it), and that call raises \"unscale_() has already been called on this "
                        f"optimizer since the last update()\"; call `{scaler}.update()` on every path "
                        f"after `unscale_` (skipping only `{scaler}.step` is safe)",
                    )
                break  # the innermost loop that updates decides

    def _never_updated(self, flow: FunctionFlow, events: list[Event]) -> None:
        reported: set[tuple[int, str]] = set()
        for step in events:
            if step.kind != SCALER_STEP:
                continue
            if not step.names:
                continue  # the helper's own scaler: judged in the helper
            if step.origin is not None and step.origin in step.loops:
                continue  # stepped in a loop of the helper: judged in the helper, not again here
            scaler = next(iter(step.names))
            loop = next((lp for lp in step.loops if isinstance(lp, LOOP_TYPES)), None)
            if loop is None or (id(loop), scaler) in reported:
                continue
            inside = [e for e in events if loop in e.loops]
            if any(e.kind in (SCALER_UPDATE, SCALER_HANDED) and scaler in e.names for e in inside):
                continue
            reported.add((id(loop), scaler))
            self.report(
                step.node,
                f"{step.described} runs in this {loop_label(self.ctx.module, loop)}, which never "
                f"calls `{scaler}.update()`: the loss scale never adapts, and the next "
                f"`{scaler}.step()` raises; call `{scaler}.update()` once after the optimizer steps "
                f"of each iteration",
            )
