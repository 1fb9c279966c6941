from __future__ import annotations

import libcst as cst

from nnlint.flow import FunctionFlow
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.rules.distributed._amp import (
    SCALER_HANDED,
    SCALER_STEP,
    UNSCALE,
    AmpSteps,
    amp_steps,
    opposite_conditions,
    scaler_absent,
)
from nnlint.rules.loop._steps import CLIP, OPT_STEP, Event, innermost_loop


class GradClipBeforeUnscale(Rule):
    code = "NN701"
    name = "grad-clip-before-unscale"
    summary = "gradients are clipped while still multiplied by the GradScaler's loss scale"
    what = (
        "Flags `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` (and the `clip_grad_norm_` "
        "methods of accelerate / FSDP) that run after `scaler.scale(loss).backward()` in the same "
        "iteration with no `scaler.unscale_(optimizer)` between them (also when the scaled loss is "
        "held by a variable: `scaled = scaler.scale(loss); scaled.backward()`). Same-file helpers "
        "are followed; a clip in a branch that the scaled backward pass does not reach (the "
        "`else:` of `if use_amp:`, or of a second `if use_amp:` testing the same condition) is "
        "left alone. The scaler must be a `GradScaler` "
        "(`torch.amp`, `torch.cuda.amp`, `torch.GradScaler`, FSDP's `ShardedGradScaler`) as far "
        "as nnlint can see: built so in the function, in the class (`self.scaler`) or at module "
        "level, built by a same-file function or `self.` method that returns one, passed by the "
        "same-file callers of the function, annotated so, or named like one (`scaler`, `grad_scaler`) and not built from another "
        "class. A scaler built with a literal `enabled=False` never scales and is left alone, as is "
        "bf16 autocast without a scaler, and a scaler handed to code nnlint cannot see between "
        "the backward pass and the clip."
    )
    why = (
        "After `scaler.scale(loss).backward()` every `.grad` is multiplied by the loss scale "
        "(65536 at the start, adjusted as training runs). `clip_grad_norm_(params, 1.0)` then "
        "compares the *scaled* norm with 1.0: it clips nearly every step, by a factor that follows "
        "the loss scale rather than the gradients, and `clip_grad_value_` clips the scaled values. "
        "PyTorch's AMP examples call `scaler.unscale_(optimizer)` first; `scaler.step` then knows "
        "the gradients are unscaled and does not divide them again."
    )
    use_instead = (
        "for x, y in loader:\n    optimizer.zero_grad()\n    with torch.autocast('cuda'):\n"
        "        loss = criterion(model(x), y)\n    scaler.scale(loss).backward()\n"
        "    scaler.unscale_(optimizer)\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\n"
        "    scaler.step(optimizer)\n    scaler.update()\n"
    )
    fix_availability = "unsafe"
    fix_safety = (
        "Unsafe: inserts `scaler.unscale_(optimizer)` on the line before the clip, naming the "
        "optimizer that the scaler steps next in the iteration (no fix when that is not one known "
        "optimizer, or when the clip is not a statement of its own). Clipping then works on real "
        "gradient values, which changes training: the same `max_norm` now clips far less often. "
        "`unscale_` may run only once per optimizer between `update()` calls; with gradient "
        "accumulation keep it in the branch that steps."
    )
    needs_flow = True
    triggers = ("clip_grad",)
    VALID = [
        # PyTorch's recipe: unscale, clip, step, update.
        "import torch\n\ndef train(model, optimizer, loader):\n    scaler = torch.amp.GradScaler('cuda')\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.autocast('cuda'):\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        scaler.unscale_(optimizer)\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n        scaler.step(optimizer)\n        scaler.update()\n",
        # The clip is in the branch without the scaler.
        "from torch.nn.utils import clip_grad_norm_\n\ndef train(model, optimizer, scaler, loader, use_amp):\n    for x, y in loader:\n        optimizer.zero_grad()\n        loss = model(x, y)\n        if use_amp:\n            scaler.scale(loss).backward()\n            scaler.unscale_(optimizer)\n            clip_grad_norm_(model.parameters(), 1.0)\n            scaler.step(optimizer)\n            scaler.update()\n        else:\n            loss.backward()\n            clip_grad_norm_(model.parameters(), 1.0)\n            optimizer.step()\n",
        # bf16 autocast with no scaler at all.
        "import torch\n\ndef train(model, optimizer, loader):\n    for x, y in loader:\n        with torch.autocast('cuda', dtype=torch.bfloat16):\n            loss = model(x, y)\n        loss.backward()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # A scaler that is switched off never scales.
        "import torch\n\nscaler = torch.cuda.amp.GradScaler(enabled=False)\nfor x, y in loader:\n    scaler.scale(model(x, y)).backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n    scaler.step(optimizer)\n    scaler.update()\n    optimizer.zero_grad()\n",
        # Accumulation: unscale and clip together in the branch that steps; a helper unscales.
        "import torch\n\ndef unscale_and_clip(scaler, optimizer, model):\n    scaler.unscale_(optimizer)\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n\ndef train(model, optimizer, scaler, loader, accum):\n    for i, (x, y) in enumerate(loader):\n        scaler.scale(model(x, y) / accum).backward()\n        if (i + 1) % accum == 0:\n            unscale_and_clip(scaler, optimizer, model)\n            scaler.step(optimizer)\n            scaler.update()\n            optimizer.zero_grad()\n",
        # open_clip: a helper scales when there is a scaler; the clip runs where there is none.
        "import torch\n\ndef backward(loss, scaler):\n    if scaler is not None:\n        scaler.scale(loss).backward()\n    else:\n        loss.backward()\n\ndef train(model, optimizer, scaler, loader):\n    for x, y in loader:\n        backward(model(x, y), scaler)\n        if scaler is not None:\n            scaler.unscale_(optimizer)\n            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n            scaler.step(optimizer)\n            scaler.update()\n        else:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n            optimizer.step()\n        optimizer.zero_grad()\n",
        # timm's NativeScaler is another API (it unscales inside its __call__).
        "from timm.utils import NativeScaler\n\ndef train(model, optimizer, loader):\n    loss_scaler = NativeScaler()\n    for x, y in loader:\n        loss = model(x, y)\n        loss_scaler(loss, optimizer, clip_grad=1.0, parameters=model.parameters())\n        optimizer.zero_grad()\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\ndef train(model, optimizer, loader):\n    scaler = torch.cuda.amp.GradScaler()\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.cuda.amp.autocast():\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # error\n        scaler.step(optimizer)\n        scaler.update()\n",
            fixed="import torch\n\ndef train(model, optimizer, loader):\n    scaler = torch.cuda.amp.GradScaler()\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.cuda.amp.autocast():\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        scaler.unscale_(optimizer)\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # error\n        scaler.step(optimizer)\n        scaler.update()\n",
        ),
        # A trainer class: the scaler is built in __init__; the clip's result is kept.
        Invalid(
            "import torch\nfrom torch import nn\n\nclass Trainer:\n    def __init__(self, model, optimizer):\n        self.model = model\n        self.optimizer = optimizer\n        self.scaler = torch.amp.GradScaler('cuda', enabled=True)\n\n    def fit(self, loader):\n        for batch in loader:\n            with torch.autocast('cuda'):\n                loss = self.model(batch)\n            self.scaler.scale(loss).backward()\n            grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)  # error\n            self.scaler.step(self.optimizer)\n            self.scaler.update()\n            self.optimizer.zero_grad()\n",
            fixed="import torch\nfrom torch import nn\n\nclass Trainer:\n    def __init__(self, model, optimizer):\n        self.model = model\n        self.optimizer = optimizer\n        self.scaler = torch.amp.GradScaler('cuda', enabled=True)\n\n    def fit(self, loader):\n        for batch in loader:\n            with torch.autocast('cuda'):\n                loss = self.model(batch)\n            self.scaler.scale(loss).backward()\n            self.scaler.unscale_(self.optimizer)\n            grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)  # error\n            self.scaler.step(self.optimizer)\n            self.scaler.update()\n            self.optimizer.zero_grad()\n",
        ),
        # Gradient accumulation: the clip in the step branch, never unscaled; the scaler is a
        # module-level global of the script and enabled by a flag.
        "import torch\nfrom torch.nn.utils import clip_grad_value_\n\nscaler = torch.cuda.amp.GradScaler(enabled=args.fp16)\n\ndef train(model, optimizer, loader, accum):\n    for i, (x, y) in enumerate(loader):\n        with torch.cuda.amp.autocast(enabled=args.fp16):\n            loss = model(x, y) / accum\n        scaler.scale(loss).backward()\n        if (i + 1) % accum == 0:\n            clip_grad_value_(model.parameters(), 0.5)  # error\n            scaler.step(optimizer)\n            scaler.update()\n            optimizer.zero_grad()\n",
        # A same-file helper clips; the scaler is a parameter named like one.
        "import torch\n\ndef clip(model):\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n\ndef train_one_epoch(model, optimizer, scaler, loader):\n    for x, y in loader:\n        with torch.autocast('cuda'):\n            loss = model(x, y)\n        scaler.scale(loss).backward()\n        clip(model)  # error\n        scaler.step(optimizer)\n        scaler.update()\n        optimizer.zero_grad()\n",
        # Unscaled for one optimizer (the GAN's D), then G's gradients are clipped scaled.
        "import torch\n\ndef train_gan(G, D, opt_g, opt_d, scaler, loader):\n    for real in loader:\n        scaler.scale(D.loss(real)).backward()\n        scaler.unscale_(opt_d)\n        torch.nn.utils.clip_grad_norm_(D.parameters(), 1.0)\n        scaler.step(opt_d)\n        scaler.scale(G.loss(real)).backward()\n        torch.nn.utils.clip_grad_norm_(G.parameters(), 1.0)  # error\n        scaler.step(opt_g)\n        scaler.update()\n        opt_d.zero_grad()\n        opt_g.zero_grad()\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = amp_steps(self.ctx)
        for flow in self.ctx.flows:
            events = steps.events(flow)
            if any(e.kind == CLIP for e in events):
                self._scan(steps, flow, events)

    def _scan(self, steps: AmpSteps, flow: FunctionFlow, events: list[Event]) -> None:
        for clip in events:
            if clip.kind != CLIP:
                continue
            region = innermost_loop(clip)
            around = [
                e
                for e in events
                if e.in_region(region)
                and steps.reaches(flow, e, clip, region)
                and not opposite_conditions(e, clip, self.ctx.module)
            ]
            scaled = [e for e in around if steps.backward_scaler(flow, e) is not None]
            if not scaled:
                continue
            backward = scaled[-1]
            scaler = steps.backward_scaler(flow, backward)
            between = [e for e in around if e.order > backward.order]
            unscaled = {e.key for e in between if e.kind == UNSCALE and scaler in e.names}
            if scaler is None or scaler_absent(clip, scaler):
                continue  # `if scaler is not None: ... else: clip(...)`: no scaling on that path
            if any(e.kind == SCALER_HANDED and scaler in e.names for e in between):
                continue  # code nnlint cannot see may unscale
            if all(e.origin is not None and e.origin is clip.origin for e in (clip, backward)):
                continue  # all inside one helper call: reported in the helper itself
            optimizer = self._stepped_next(steps, flow, events, clip, region, scaler)
            # Unscaled for the optimizer this clip's step uses (or for an unknown one): fine.
            if unscaled and (optimizer is None or optimizer in unscaled or None in unscaled):
                continue
            call = f"{scaler}.unscale_({optimizer or 'optimizer'})"
            self.report(
                clip.node,
                f"{clip.described} runs after {backward.described} with no `{call}` in between: it "
                f"clips gradients still multiplied by the loss scale, so the threshold means nothing; "
                f"call `{call}` right before clipping",
                self._fix(flow, clip, scaler, optimizer),
            )

    @staticmethod
    def _stepped_next(
        steps: AmpSteps, flow: FunctionFlow, events: list[Event], clip: Event, region: cst.CSTNode | None, scaler: str | None
    ) -> str | None:
        """The optimizer the scaler (or, failing that, a plain step) steps first after the clip."""
        following = [
            e
            for e in events
            if e.kind in (SCALER_STEP, OPT_STEP) and e.in_region(region) and steps.reaches(flow, clip, e, region)
        ]
        through_scaler = [e for e in following if e.kind == SCALER_STEP and scaler in e.names]
        chosen = (through_scaler or following)[:1]
        return chosen[0].key if chosen else None

    def _fix(self, flow: FunctionFlow, clip: Event, scaler: str | None, optimizer: str | None) -> NodeFix | None:
        if clip.via is not None or scaler is None or optimizer is None:
            return None
        statement = _own_statement(flow.node, clip.node)
        if statement is None:
            return None
        code = self.ctx.module.code_for_node(statement)
        if "\n" in code.strip():
            return None
        return NodeFix(
            f"call `{scaler}.unscale_({optimizer})` before clipping",
            "unsafe",
            ((statement, f"{scaler}.unscale_({optimizer})\n{code.strip()}"),),
        )


def _own_statement(root: cst.CSTNode, call: cst.CSTNode) -> cst.BaseSmallStatement | None:
    """The small statement `clip(...)` or `x = clip(...)` when it is the only one on its line
    and starts it (so a line can be inserted before it)."""
    found: list[cst.BaseSmallStatement] = []

    class _Find(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
            if len(node.body) == 1:
                small = node.body[0]
                if isinstance(small, cst.Expr) and small.value is call:
                    found.append(small)
                elif isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is call:
                    found.append(small)
            return False

    root.visit(_Find())
    return found[0] if found else None
