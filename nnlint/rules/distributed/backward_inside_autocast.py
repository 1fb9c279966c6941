from __future__ import annotations

import libcst as cst

from nnlint.rule import Rule
from nnlint.rules.distributed._amp import amp_steps
from nnlint.rules.loop._steps import BACKWARD


class BackwardInsideAutocast(Rule):
    code = "NN703"
    name = "backward-inside-autocast"
    summary = "`backward()` runs inside an autocast block"
    what = (
        "Flags `loss.backward()`, `scaler.scale(loss).backward()` and the backward calls of "
        "accelerate / Lightning / DeepSpeed (`accelerator.backward(loss)`, "
        "`self.manual_backward(loss)`) that run inside a `with torch.autocast(...)` / "
        "`torch.amp.autocast(...)` / `torch.cuda.amp.autocast()` / `torch.cpu.amp.autocast()` "
        "block or accelerate / Fabric's `accelerator.autocast()` -- also through a name bound to one (`ctx = torch.autocast('cuda')` ... `with ctx:`), "
        "a factory bound with `functools.partial(torch.autocast, ...)`, a parameter whose same-file "
        "callers pass one, in a function decorated with one, or through a same-file helper called "
        "in the block. "
        "A block opened with a literal `enabled=False` switches autocast off; any other value "
        "counts as on. A context nnlint cannot resolve (`with self.autocast():`, a factory from "
        "another file) is not taken for autocast."
    )
    why = (
        "Autocast is meant for the forward pass and the loss only. PyTorch's AMP documentation: "
        "\"Backward passes under autocast are not recommended. Backward ops run in the same type "
        "that autocast used for corresponding forward ops.\" Inside the block, ops that the "
        "backward pass runs outside autograd's recorded graph (custom autograd functions, hooks, "
        "gradient penalties built with `create_graph=True`) are cast again, and the dtypes of the "
        "gradient computation stop matching the forward pass."
    )
    use_instead = (
        "import torch\n\nscaler = torch.amp.GradScaler('cuda')\nfor x, y in loader:\n"
        "    optimizer.zero_grad()\n    with torch.autocast('cuda', dtype=torch.float16):\n"
        "        loss = criterion(model(x), y)\n    scaler.scale(loss).backward()\n"
        "    scaler.step(optimizer)\n    scaler.update()\n"
    )
    needs_flow = True
    triggers = ("autocast",)
    VALID = [
        # The backward pass after the block.
        "import torch\n\ndef train(model, optimizer, scaler, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.autocast('cuda'):\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        scaler.step(optimizer)\n        scaler.update()\n",
        # nanoGPT: the context is a variable, the backward is outside it.
        "import torch\nfrom contextlib import nullcontext\n\nctx = nullcontext() if device_type == 'cpu' else torch.amp.autocast(device_type=device_type, dtype=ptdtype)\nfor it in range(max_iters):\n    with ctx:\n        logits, loss = model(X, Y)\n    scaler.scale(loss).backward()\n    scaler.step(optimizer)\n    scaler.update()\n    optimizer.zero_grad(set_to_none=True)\n",
        # Autocast switched off around the backward pass.
        "from torch.cuda.amp import autocast\n\ndef step(model, optimizer, x):\n    with autocast():\n        loss = model(x)\n        with autocast(enabled=False):\n            loss.float().backward()\n    optimizer.step()\n",
        # A context nnlint cannot resolve: not taken for autocast.
        "class Trainer:\n    def step(self, batch):\n        with self.autocast():\n            loss = self.model(batch)\n            loss.backward()\n        self.optimizer.step()\n",
        # Inference under autocast: no backward pass.
        "import torch\n\n@torch.no_grad()\ndef evaluate(model, loader):\n    model.eval()\n    with torch.autocast('cuda'):\n        return [model(x) for x in loader]\n",
    ]
    INVALID = [
        "import torch\n\ndef train(model, optimizer, scaler, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.cuda.amp.autocast():\n            loss = model(x, y)\n            scaler.scale(loss).backward()  # error\n        scaler.step(optimizer)\n        scaler.update()\n",
        # bf16 without a scaler, in a module-level script.
        "import torch\n\nmodel = torch.nn.Linear(4, 1).cuda()\noptimizer = torch.optim.AdamW(model.parameters())\nfor x, y in loader:\n    with torch.autocast(device_type='cuda', dtype=torch.bfloat16):\n        loss = torch.nn.functional.mse_loss(model(x), y)\n        loss.backward()  # error\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # The context is bound to a name first; accelerate's backward.
        "from torch.amp import autocast\n\ndef train(accelerator, model, optimizer, loader, use_amp):\n    amp_ctx = autocast('cuda', enabled=use_amp)\n    for batch in loader:\n        with amp_ctx:\n            loss = model(**batch).loss\n            accelerator.backward(loss)  # error\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # A same-file helper runs the backward pass inside the block.
        "import torch\n\ndef backward(loss, scaler):\n    scaler.scale(loss).backward()\n\ndef train(model, optimizer, scaler, loader):\n    for x, y in loader:\n        with torch.autocast('cuda'):\n            loss = model(x, y)\n            backward(loss, scaler)  # error\n        scaler.step(optimizer)\n        scaler.update()\n        optimizer.zero_grad()\n",
        # accelerate's autocast context.
        "def train(accelerator, model, optimizer, loader):\n    for batch in loader:\n        with accelerator.autocast():\n            loss = model(**batch).loss\n            accelerator.backward(loss)  # error\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # A training step decorated with autocast.
        "import torch\n\n@torch.autocast('cuda')\ndef train_step(model, optimizer, x, y):\n    optimizer.zero_grad()\n    loss = model(x, y)\n    loss.backward()  # error\n    optimizer.step()\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = amp_steps(self.ctx)
        for flow in self.ctx.flows:
            backwards = [e for e in steps.events(flow) if e.kind == BACKWARD]
            if not backwards:
                continue
            inside = steps.autocast_nodes(flow)
            if not inside:
                continue
            reported: set[int] = set()
            for event in backwards:
                if id(event.node) not in inside or id(event.node) in reported:
                    continue
                reported.add(id(event.node))
                self.report(
                    event.node,
                    f"{event.described} runs inside an autocast block, so the backward pass is "
                    f"autocast too; end the `with` block after the loss is computed and call "
                    f"`backward()` after it",
                )
