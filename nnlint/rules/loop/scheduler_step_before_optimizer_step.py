from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow
from nnlint.rule import Rule
from nnlint.rules.loop._steps import (
    OPT_STEP,
    SCHED_STEP,
    Event,
    TrainingSteps,
    innermost_loop,
    name_tokens,
    names_in,
    training_steps,
)

_COUNTER_WORDS = ("epoch", "step", "iter", "warmup")


class SchedulerStepBeforeOptimizerStep(Rule):
    code = "NN405"
    name = "scheduler-step-before-optimizer-step"
    summary = "the learning-rate scheduler steps before the optimizer in the same iteration"
    what = (
        "Flags `scheduler.step()` that runs before `optimizer.step()` within one iteration of the "
        "innermost loop around it -- for example at the top of the epoch loop, ahead of the batch "
        "loop (or the same-file `train_one_epoch(...)` helper) that steps the optimizer. Schedulers "
        "are told from optimizers by how they were built (`torch.optim.lr_scheduler.X(...)`, "
        "`get_linear_schedule_with_warmup(...)` vs `torch.optim.X(...)`), by name only when that "
        "is unambiguous (`lr_scheduler`, `scheduler`; never `noise_scheduler`). When the scheduler "
        "was built for a known optimizer, only that optimizer's step counts."
    )
    why = (
        "Since PyTorch 1.1 the scheduler must step after the optimizer. Stepping it first skips "
        "the first value of the schedule (a warmup starts one step late, a step decay comes one "
        "epoch early) and PyTorch warns about it at run time."
    )
    use_instead = (
        "for epoch in range(epochs):\n    for x, y in loader:\n        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n        optimizer.step()\n    scheduler.step()\n"
    )
    needs_flow = True
    VALID = [
        "import torch\n\ndef train(model, loader, epochs):\n    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)\n    for epoch in range(epochs):\n        for x, y in loader:\n            optimizer.zero_grad()\n            model(x, y).backward()\n            optimizer.step()\n        scheduler.step()\n",
        # Per-batch scheduling after the step.
        "def train(model, optimizer, lr_scheduler, loader):\n    for batch in loader:\n        model(batch).backward()\n        optimizer.step()\n        lr_scheduler.step()\n        optimizer.zero_grad()\n",
        # A diffusion noise scheduler is not a learning-rate scheduler.
        "def sample(unet, noise_scheduler, latents, optimizer):\n    for t in noise_scheduler.timesteps:\n        latents = noise_scheduler.step(unet(latents, t), t, latents).prev_sample\n        optimizer.step()\n",
        # ReduceLROnPlateau takes the validation metric.
        "import torch\n\ndef train(model, optimizer, loader, evaluate):\n    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)\n    val_loss = None\n    for epoch in range(10):\n        if val_loss is not None:\n            scheduler.step(val_loss)\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n        val_loss = evaluate(model)\n",
        # Skipping the first epoch on purpose; a scheduler class nnlint does not know.
        "def train(model, optimizer, scheduler, loader):\n    for epoch in range(10):\n        if epoch > 0:\n            scheduler.step()\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n",
        "from cyclic import CyclicLRWithRestarts\n\ndef train(model, optimizer, loader):\n    scheduler = CyclicLRWithRestarts(optimizer, 64, 50000)\n    for epoch in range(10):\n        scheduler.step()\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n            scheduler.batch_step()\n",
        # The scheduler belongs to another optimizer, which has already stepped.
        "import torch\n\ndef train(netG, netD, loader):\n    optG = torch.optim.Adam(netG.parameters())\n    optD = torch.optim.Adam(netD.parameters())\n    schedD = torch.optim.lr_scheduler.ExponentialLR(optD, 0.99)\n    for real in loader:\n        netD(real).mean().backward()\n        optD.step()\n        schedD.step()\n        netG(real).mean().backward()\n        optG.step()\n",
    ]
    INVALID = [
        "import torch\n\ndef train(model, loader, epochs):\n    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)\n    for epoch in range(epochs):\n        scheduler.step()  # error\n        for inputs, targets in loader:\n            optimizer.zero_grad()\n            model(inputs, targets).backward()\n            optimizer.step()\n",
        # Per-batch, in the wrong order.
        "from transformers import get_linear_schedule_with_warmup\n\ndef train(model, optimizer, loader, total):\n    sched = get_linear_schedule_with_warmup(optimizer, 100, total)\n    for step, batch in enumerate(loader):\n        loss = model(**batch).loss\n        loss.backward()\n        sched.step()  # error\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # A trainer class whose epoch helper steps the optimizer.
        "class Trainer:\n    def train_one_epoch(self, loader):\n        for images, labels in loader:\n            self.optimizer.zero_grad()\n            self.model(images, labels).backward()\n            self.optimizer.step()\n\n    def fit(self, loader, epochs):\n        for epoch in range(epochs):\n            self.scheduler.step()  # error\n            self.train_one_epoch(loader)\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = training_steps(self.ctx)
        for flow in self.ctx.flows:
            events = steps.events(flow)
            if any(e.kind == SCHED_STEP for e in events) and any(e.kind == OPT_STEP for e in events):
                self._scan(steps, flow, events)

    def _scan(self, steps: TrainingSteps, flow: FunctionFlow, events: list[Event]) -> None:
        for sched in events:
            # `step(metric)` / `step(epoch)` set the schedule explicitly: order does not apply.
            if sched.kind != SCHED_STEP or sched.has_args:
                continue
            region = innermost_loop(sched)
            if self._guarded_by_iteration(steps, flow, sched, region):
                continue
            owner = steps.scheduler_optimizer(flow, sched.key) if sched.key and sched.via is None else None

            def drives(event: Event) -> bool:
                return event.kind == OPT_STEP and (owner is None or event.key in (None, owner))

            later = [e for e in events if drives(e) and e.in_region(region) and steps.reaches(flow, sched, e, region)]
            if not later or any(
                drives(e) and e.in_region(region) and steps.reaches(flow, e, sched, region) for e in events
            ):
                continue
            step = later[0]
            if sched.origin is not None and sched.origin is step.origin:
                continue  # both inside one helper call: reported in the helper itself
            self.report(
                sched.node,
                f"{sched.described} runs before {step.described} in the same iteration: the "
                f"schedule's first value is skipped (PyTorch warns about this order); call it after "
                f"the optimizer step",
            )

    @staticmethod
    def _guarded_by_iteration(
        steps: TrainingSteps, flow: FunctionFlow, sched: Event, region: cst.CSTNode | None
    ) -> bool:
        """`if epoch > 0: scheduler.step()` ahead of the optimizer steps is a deliberate shift:
        a condition on the loop variable or on an epoch / step / iteration counter."""
        targets = steps.layout(flow).loop_targets.get(region, frozenset()) if region is not None else frozenset()
        inside = region is None
        for node, _ in sched.path:
            if node is region:
                inside = True
            elif inside and isinstance(node, cst.If):
                names = names_in(node.test)
                if names & targets or any(
                    word in token for name in names for token in name_tokens(name) for word in _COUNTER_WORDS
                ):
                    return True
        return False
