from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow
from nnlint.rule import Rule
from nnlint.rules.loop._steps import (
    BACKWARD,
    CLEAR,
    LOOP_TYPES,
    MODEL_NEW,
    OPAQUE,
    OPT_NEW,
    OPT_STEP,
    OVERWRITE,
    Event,
    loop_label,
    training_steps,
)


class MissingZeroGrad(Rule):
    code = "NN401"
    name = "missing-zero-grad"
    summary = "a training loop steps the optimizer but never clears the gradients"
    what = (
        "Flags `optimizer.step()` in a loop that also calls `loss.backward()` when nothing in that "
        "loop clears the gradients: no `optimizer.zero_grad()`, `model.zero_grad()`, "
        "`p.grad = None` (also in a `for p in model.parameters()` loop) and no same-file helper "
        "that does one of these. The loop is the innermost one that contains both the backward "
        "pass and the step. Any clearing in the loop silences it (with several optimizers, "
        "clearing one of them may be all a loop needs when only its parameters get gradients)."
    )
    why = (
        "`backward()` adds to `.grad`; it does not overwrite it. Without clearing, every step "
        "applies the sum of all gradients computed so far, so updates grow with each iteration and "
        "training diverges or stalls -- a classic bug that raises no error."
    )
    use_instead = (
        "for inputs, targets in loader:\n    optimizer.zero_grad()\n"
        "    loss = criterion(model(inputs), targets)\n    loss.backward()\n    optimizer.step()\n"
    )
    needs_flow = True
    VALID = [
        "import torch\n\nmodel = torch.nn.Linear(4, 2)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\nfor x, y in loader:\n    optimizer.zero_grad()\n    loss = torch.nn.functional.mse_loss(model(x), y)\n    loss.backward()\n    optimizer.step()\n",
        # Gradient accumulation: the step and the clearing are guarded by the same condition.
        "def train(model, optimizer, loader, accumulation_steps=4):\n    for i, (x, y) in enumerate(loader):\n        loss = model(x, y) / accumulation_steps\n        loss.backward()\n        if (i + 1) % accumulation_steps == 0:\n            optimizer.step()\n            optimizer.zero_grad()\n",
        # GAN code that clears through the models.
        "def train_gan(netG, netD, optD, optG, loader, criterion):\n    for real, _ in loader:\n        netD.zero_grad()\n        fake = netG(real)\n        criterion(netD(real), netD(fake.detach())).backward()\n        optD.step()\n        netG.zero_grad()\n        criterion(netD(fake), None).backward()\n        optG.step()\n",
        # Clearing through the model, or by setting the gradients to None.
        "def train(model, opt, loader):\n    for x, y in loader:\n        model.zero_grad(set_to_none=True)\n        model(x, y).backward()\n        opt.step()\n",
        "def train(model, opt, loader):\n    for x, y in loader:\n        model(x, y).backward()\n        opt.step()\n        for p in model.parameters():\n            p.grad = None\n",
        # A same-file helper clears the gradients.
        "def reset_gradients(optimizer):\n    optimizer.zero_grad(set_to_none=True)\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        reset_gradients(optimizer)\n        model(x, y).backward()\n        optimizer.step()\n",
        # Clearing in the epoch loop, accumulation over micro-batches, one step per epoch.
        "def train(model, opt, batches):\n    for epoch in range(10):\n        opt.zero_grad()\n        for x, y in batches:\n            model(x, y).backward()\n        opt.step()\n",
        # The optimizer is built in the loop over fresh tensors (latent optimisation).
        "import torch\n\ndef refine(unet, latents, steps):\n    for t in steps:\n        x = latents.detach().clone().requires_grad_(True)\n        opt = torch.optim.SGD([x], lr=0.1)\n        unet(x, t).sum().backward()\n        opt.step()\n",
        # Code nnlint cannot see is handed the optimizer; LBFGS clears in its closure.
        "from trainlib import after_step\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        model(x, y).backward()\n        optimizer.step()\n        after_step(optimizer)\n",
        "def fit(model, optimizer, x, y):\n    for _ in range(20):\n        def closure():\n            optimizer.zero_grad()\n            loss = model(x, y)\n            loss.backward()\n            return loss\n        optimizer.step(closure)\n",
        # Not an optimizer: an environment or an engine that manages its own gradients.
        "def run(engine, loader):\n    for batch in loader:\n        loss = engine(batch)\n        engine.backward(loss)\n        engine.step()\n",
    ]
    INVALID = [
        "import torch\n\nmodel = torch.nn.Linear(4, 2)\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\nfor x, y in loader:\n    loss = torch.nn.functional.mse_loss(model(x), y)\n    loss.backward()\n    optimizer.step()  # error\n",
        # Clearing only once per epoch; gradients pile up over the batches.
        "def train(model, optimizer, criterion, loader, epochs):\n    for epoch in range(epochs):\n        optimizer.zero_grad()\n        for batch_idx, (data, target) in enumerate(loader):\n            output = model(data)\n            loss = criterion(output, target)\n            loss.backward()\n            optimizer.step()  # error\n",
        # A trainer class.
        "import torch\n\nclass Trainer:\n    def __init__(self, model, lr):\n        self.model = model\n        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n\n    def train_epoch(self, loader):\n        self.model.train()\n        for images, labels in loader:\n            loss = self.model(images, labels)\n            loss.backward()\n            self.optimizer.step()  # error\n",
        # A GAN: neither optimizer's gradients are ever cleared.
        "def train_gan(netG, netD, optD, optG, loader, criterion):\n    for real, _ in loader:\n        fake = netG(real)\n        lossD = criterion(netD(real), netD(fake.detach()))\n        lossD.backward()\n        optD.step()  # error\n        lossG = criterion(netD(fake), None)\n        lossG.backward()\n        optG.step()  # error\n",
        # A straight-line step helper called from the loop.
        "def train_step(model, optimizer, x, y):\n    loss = model(x, y)\n    loss.backward()\n    optimizer.step()\n    return loss\n\ndef fit(model, optimizer, loader):\n    for x, y in loader:\n        train_step(model, optimizer, x, y)  # error\n",
        # A nested training function inside main().
        "import torch\n\ndef main(model, loader):\n    opt = torch.optim.AdamW(model.parameters())\n\n    def train_one_epoch():\n        for step, batch in enumerate(loader):\n            out = model(**batch)\n            out.loss.backward()\n            opt.step()  # error\n\n    for epoch in range(3):\n        train_one_epoch()\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = training_steps(self.ctx)
        for flow in self.ctx.flows:
            self._scan(flow, steps.events(flow))

    def _scan(self, flow: FunctionFlow, events: list[Event]) -> None:
        backwards = [e for e in events if e.kind == BACKWARD]
        if not backwards:
            return
        reported: set[tuple[int, str | None]] = set()
        for step in events:
            if step.kind != OPT_STEP:
                continue
            loop = next((lp for lp in reversed(step.loops) if any(lp in b.loops for b in backwards)), None)
            # A loop inside a helper (the call stands for it) is the helper's own business.
            if loop is None or not isinstance(loop, LOOP_TYPES) or (id(loop), step.key) in reported:
                continue
            inside = [e for e in events if loop in e.loops]
            if self._unknowable(inside):
                continue
            if any(e.kind in (CLEAR, OVERWRITE) for e in inside):
                continue
            reported.add((id(loop), step.key))
            backward = next(b for b in backwards if loop in b.loops)
            optimizer = step.key or "optimizer"
            where = loop_label(self.ctx.module, loop)
            if step.via is not None and backward.origin is step.origin:
                what = (
                    f"`{step.via}()` calls `{backward.text}` and `{step.text}`, and nothing in this "
                    f"{where} clears the gradients between calls"
                )
            else:
                what = (
                    f"{step.described} applies gradients that {backward.described} keeps adding to, "
                    f"and nothing in this {where} clears them"
                )
            self.report(
                step.node,
                f"{what}, so each step uses the sum of all gradients so far; call "
                f"`{optimizer}.zero_grad()` at the start of each iteration (or right after the step)",
            )

    @staticmethod
    def _unknowable(inside: list[Event]) -> bool:
        """Code nnlint cannot see may clear; a closure passed to `step()` may clear; an optimizer
        (or model) built anew in the loop starts with fresh gradients."""
        return any(
            e.kind in (OPAQUE, OPT_NEW, MODEL_NEW) or (e.kind == OPT_STEP and e.has_args) for e in inside
        )
