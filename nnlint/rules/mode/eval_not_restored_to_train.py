from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from nnlint import walker
from nnlint.modes import (
    EVAL,
    EXPLICIT_TRAIN,
    FORWARD,
    STEP,
    UNKNOWN,
    UNSEEN,
    ModeAction,
    ModeModel,
    ModeTimeline,
    is_inference_name,
    same_model,
)
from nnlint.rule import Rule

# Models kept in eval mode on purpose while another model trains (distillation, EMA, RL targets).
_FROZEN_WORDS = frozenset({"teacher", "ema", "frozen", "target", "ref", "reference", "critic_target"})


@dataclass
class _Leak:
    eval_action: ModeAction
    step_action: ModeAction
    model: str


class EvalNotRestoredToTrain(Rule):
    code = "NN203"
    name = "eval-not-restored-to-train"
    summary = "a model is put in eval mode inside a training loop and never put back with `.train()`"
    what = (
        "Flags `.eval()` (or `.train(False)`) reached inside a loop that trains -- directly or "
        "through a same-file helper such as `validate(model)` that calls `model.eval()` -- when no "
        "`.train()` on that model runs before the loop's next training step (`loss.backward()`, "
        "`optimizer.step()`, or a helper that does them). A `.train()` at the top of the loop or at "
        "the top of the training helper keeps it silent, and so does any call nnlint cannot see "
        "that receives the model."
    )
    why = (
        "After the first validation pass every later epoch trains in eval mode: dropout is off and "
        "batch norm normalises with its frozen running statistics instead of learning them. "
        "Nothing fails; the model just trains worse, and the mistake hides behind a validation "
        "curve that still goes down."
    )
    use_instead = (
        "for epoch in range(epochs):\n    model.train()\n    for x, y in loader:\n"
        "        optimizer.zero_grad()\n        loss_fn(model(x), y).backward()\n"
        "        optimizer.step()\n    validate(model)\n"
    )
    fix_safety = "No fix is offered: where training resumes is for a human to decide."
    needs_flow = True
    triggers = ("eval", "train")  # it starts from `.eval()` / `.train(False)`
    VALID = [
        # A linear probe: the train helper itself puts the frozen backbone in eval mode on purpose.
        "import torch\n\ndef train(loader, model, opt):\n    model.eval()\n    for x, y in loader:\n        loss = (model(x) - y).pow(2).mean()\n        opt.zero_grad()\n        loss.backward()\n        opt.step()\n\ndef validate(loader, model):\n    model.eval()\n    with torch.no_grad():\n        return [model(x) for x, _ in loader]\n\ndef main(model, opt, train_loader, val_loader):\n    for epoch in range(10):\n        train(train_loader, model, opt)\n        acc = validate(val_loader, model)\n",
        # train() at the top of the epoch loop.
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\nfor epoch in range(10):\n    model.train()\n    for x, y in loader:\n        opt.zero_grad()\n        loss = (model(x) - y).pow(2).mean()\n        loss.backward()\n        opt.step()\n    model.eval()\n    with torch.no_grad():\n        val = model(val_x)\n",
        # train() at the top of the train helper; the eval helper leaves the model in eval.
        "import torch\n\ndef train_one_epoch(model, loader, optimizer):\n    model.train()\n    for x, y in loader:\n        optimizer.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n\ndef validate(model, loader):\n    model.eval()\n    with torch.no_grad():\n        return sum(model(x, y).item() for x, y in loader)\n\ndef fit(model, train_loader, val_loader, optimizer):\n    for epoch in range(5):\n        train_one_epoch(model, train_loader, optimizer)\n        validate(model, val_loader)\n",
        # The evaluation helper puts the model back itself.
        "import torch\n\ndef evaluate(model, data):\n    model.eval()\n    with torch.no_grad():\n        score = model(data).mean()\n    model.train()\n    return score\n\ndef fit(model, loader, optimizer, data):\n    for step, (x, y) in enumerate(loader):\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n        optimizer.zero_grad()\n        if step % 100 == 0:\n            evaluate(model, data)\n",
        # A frozen teacher stays in eval mode on purpose while the student trains.
        "import torch\n\ndef distill(student, teacher, loader, optimizer, kd_loss):\n    for x, y in loader:\n        teacher.eval()\n        with torch.no_grad():\n            target = teacher(x)\n        loss = kd_loss(student(x), target)\n        loss.backward()\n        optimizer.step()\n        optimizer.zero_grad()\n",
        # Batch norm frozen on purpose: a submodule switched to eval before the steps, every epoch.
        "def fit(model, loader, optimizer):\n    for epoch in range(10):\n        model.train()\n        model.backbone.eval()\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n            optimizer.zero_grad()\n",
        # The model goes to code nnlint cannot see, which may call train() itself.
        "from engine import train_one_epoch\n\ndef fit(model, loader, optimizer, evaluate):\n    for epoch in range(10):\n        train_one_epoch(model, loader, optimizer)\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n        model.eval()\n        evaluate(model)\n",
        # Evaluation after the last step, then the loop is left.
        "import torch\n\ndef fit(model, loader, optimizer, max_steps):\n    for step, (x, y) in enumerate(loader):\n        model(x, y).backward()\n        optimizer.step()\n        optimizer.zero_grad()\n        if step == max_steps:\n            model.eval()\n            with torch.no_grad():\n                model(x, y)\n            break\n",
        # Trainer class: the training method switches back at its top.
        "import torch\nimport torch.nn as nn\n\nclass Trainer:\n    def __init__(self):\n        self.model = nn.Linear(4, 2)\n        self.optimizer = torch.optim.Adam(self.model.parameters())\n\n    def train_epoch(self, loader):\n        self.model.train()\n        for x, y in loader:\n            self.optimizer.zero_grad()\n            (self.model(x) - y).pow(2).mean().backward()\n            self.optimizer.step()\n\n    def validate(self, x):\n        self.model.eval()\n        with torch.no_grad():\n            return self.model(x)\n\n    def fit(self, loader, x, epochs):\n        for epoch in range(epochs):\n            self.train_epoch(loader)\n            self.validate(x)\n",
        # No training step in the loop: evaluation only.
        "import torch\n\ndef test_all(models, loader):\n    for model in models:\n        model.eval()\n        with torch.no_grad():\n            for x, y in loader:\n                model(x)\n",
        # train(mode) with a mode nnlint cannot read.
        "def fit(model, loader, optimizer, validate, train_mode):\n    for epoch in range(10):\n        model.train(train_mode)\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n        model.eval()\n        validate(model)\n",
    ]
    INVALID = [
        # train() once before the epoch loop; eval() at the end of every epoch.
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\nmodel.train()\nfor epoch in range(10):\n    for x, y in loader:\n        opt.zero_grad()\n        loss = (model(x) - y).pow(2).mean()\n        loss.backward()\n        opt.step()\n    model.eval()  # error\n    with torch.no_grad():\n        val = model(val_x)\n",
        # Through a same-file helper, validating every N steps inside the step loop.
        "import torch\n\ndef validate(model, data):\n    model.eval()\n    with torch.no_grad():\n        return model(data).mean()\n\ndef fit(model, loader, optimizer, data):\n    for step, (x, y) in enumerate(loader):\n        optimizer.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        optimizer.step()\n        if step % 100 == 0:\n            validate(model, data)  # error\n",
        # Validation at the start of each epoch, training afterwards in eval mode.
        "import torch\n\ndef evaluate(model, data):\n    model.eval()\n    with torch.no_grad():\n        return model(data)\n\ndef fit(model, loader, optimizer, data):\n    for epoch in range(10):\n        evaluate(model, data)  # error\n        for x, y in loader:\n            model(x, y).backward()\n            optimizer.step()\n            optimizer.zero_grad()\n",
        # Trainer class with self.model and two optimizers; the train helper never calls train().
        "import torch\nimport torch.nn as nn\n\nclass GANTrainer:\n    def __init__(self):\n        self.generator = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.2))\n        self.discriminator = nn.Sequential(nn.Linear(8, 1), nn.Dropout(0.2))\n        self.opt_g = torch.optim.Adam(self.generator.parameters())\n        self.opt_d = torch.optim.Adam(self.discriminator.parameters())\n\n    def train_step(self, real, noise):\n        self.opt_d.zero_grad()\n        d_loss = self.discriminator(real).mean() - self.discriminator(self.generator(noise).detach()).mean()\n        d_loss.backward()\n        self.opt_d.step()\n        self.opt_g.zero_grad()\n        g_loss = -self.discriminator(self.generator(noise)).mean()\n        g_loss.backward()\n        self.opt_g.step()\n\n    def sample(self, noise):\n        self.generator.eval()\n        with torch.no_grad():\n            return self.generator(noise)\n\n    def fit(self, loader, noise):\n        for epoch in range(100):\n            for real in loader:\n                self.train_step(real, noise)\n            self.sample(noise)  # error\n",
        # Script style: global model, train()/test() helpers called from the epoch loop.
        "import torch\nimport torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))\noptimizer = torch.optim.SGD(model.parameters(), lr=0.01)\n\ndef train(epoch):\n    for data, target in loader:\n        optimizer.zero_grad()\n        loss = nn.functional.mse_loss(model(data), target)\n        loss.backward()\n        optimizer.step()\n\ndef test():\n    model.eval()\n    with torch.no_grad():\n        return model(test_data)\n\nfor epoch in range(1, 11):\n    train(epoch)\n    test()  # error\n",
        # DataParallel-style wrapper: eval on the inner module, a while loop over steps.
        "def fit(model, loader, optimizer, scaler, max_steps):\n    step = 0\n    while step < max_steps:\n        for batch in loader:\n            loss = model(**batch).loss\n            scaler.scale(loss).backward()\n            scaler.step(optimizer)\n            scaler.update()\n            step += 1\n        model.module.eval()  # error\n        for batch in loader:\n            model(**batch)\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        timelines = ModeTimeline(ModeModel(self.ctx))
        leaks: list[_Leak] = []
        for flow in self.ctx.flows:
            if not any(event.loops for event in flow.events):
                continue
            timeline = timelines.of(flow)
            for index, action in enumerate(timeline):
                if action.kind == EVAL and action.key is not None and action.event.loops:
                    leak = self._leak(timeline, index)
                    if leak is not None:
                        leaks.append(leak)
        # An eval inside a helper's own training loop is reported there, not again at every caller.
        leaks.sort(key=lambda leak: leak.eval_action.helper is not None)
        seen_origins: set[cst.CSTNode] = set()
        seen_sites: set[tuple[cst.CSTNode, str]] = set()
        for leak in leaks:
            origin, site = leak.eval_action.origin.node, leak.eval_action.event.node
            if (leak.eval_action.helper is not None and origin in seen_origins) or (site, leak.model) in seen_sites:
                continue
            seen_origins.add(origin)
            seen_sites.add((site, leak.model))
            self.report(site, self._message(leak))

    def _leak(self, timeline: list[ModeAction], index: int) -> _Leak | None:
        action = timeline[index]
        model = action.key
        assert model is not None
        if set(model.rpartition(".")[2].lower().split("_")) & _FROZEN_WORDS:
            return None
        for loop in reversed(action.event.loops):  # innermost first
            members = [i for i, a in enumerate(timeline) if loop in a.event.loops]
            if not any(timeline[i].kind == STEP for i in members):
                continue
            exit_kind = _exit_after(loop, action.event.node)
            if exit_kind == "return":
                return None
            if exit_kind == "break":
                continue  # this loop ends here; an outer training loop may still run again
            if not self._trained(model, timeline, members):
                return None
            return self._next_step(action, model, timeline, members, index)
        return None

    def _trained(self, model: str, timeline: list[ModeAction], members: list[int]) -> bool:
        """Whether ``model`` is the one being trained: switched to train mode somewhere, or run
        with gradients inside the training loop."""
        if any(a.kind == EXPLICIT_TRAIN and same_model(a.key, model) for a in timeline):
            return True
        return any(
            timeline[i].kind == FORWARD and not timeline[i].no_grad and same_model(timeline[i].key, model)
            for i in members
        )

    def _next_step(
        self, action: ModeAction, model: str, timeline: list[ModeAction], members: list[int], index: int
    ) -> _Leak | None:
        position = members.index(index)
        # Evidence that the eval() is for evaluation: the model then runs without gradients, or
        # the eval comes from an evaluate/validate/test helper.
        evaluating = action.helper is not None and is_inference_name(action.helper.name)
        for wrapped, order in ((False, members[position + 1 :]), (True, members[:position])):
            for i in order:
                later = timeline[i]
                if later.kind in (EXPLICIT_TRAIN, UNKNOWN, UNSEEN) and same_model(later.key, model):
                    return None
                if later.kind == EVAL and later.origin is not action.origin and same_model(later.key, model):
                    # Another eval() before the step: the training code chose eval mode itself
                    # (a linear probe on a frozen backbone keeps its batch norm statistics).
                    return None
                if later.kind == FORWARD and later.no_grad and same_model(later.key, model):
                    evaluating = True
                if later.kind == STEP:
                    if wrapped or evaluating:
                        return _Leak(action, later, model)
                    # eval() right before the steps of the same iteration: deliberate (frozen
                    # batch norm, fine-tuning in eval mode).
                    return None
        return None

    def _message(self, leak: _Leak) -> str:
        model, action, step = leak.model, leak.eval_action, leak.step_action
        if step.helper is not None:
            step_text = f"`{step.helper.name}()`"
        else:
            step_call = step.event
            step_text = f"`{step_call.func}()`" if step_call.func else f"`.{step_call.method}()`"  # type: ignore[union-attr]
        if action.helper is None:
            switch = f"{model}.eval()" if action.event.method == "eval" else f"{model}.train(False)"  # type: ignore[union-attr]
            cause = f"`{switch}` is never undone in this training loop"
        else:
            cause = f"`{action.helper.name}()` puts `{model}` in eval mode, which this training loop never undoes"
        return (
            f"{cause}: no `{model}.train()` runs before the next training step ({step_text}), so "
            f"training continues with dropout off and batch norm frozen; call `{model}.train()` at "
            f"the top of the loop (or right after evaluating)"
        )


def _exit_after(loop: cst.For | cst.While, target: cst.CSTNode) -> str | None:
    """How control leaves ``loop`` after the statement holding ``target``: "return" when a later
    statement in its block (or an enclosing block inside ``loop``) is `return`/`raise`, "break"
    when it is a `break` of ``loop`` itself, None when the loop goes on."""
    path: list[tuple[list[cst.BaseStatement], int, bool]] = []  # (block, index on the path, inner loop)

    def descend(statements: list, inner_loop: bool) -> bool:  # type: ignore[type-arg]
        for index, statement in enumerate(statements):
            if not _contains(statement, target):
                continue
            path.append((statements, index, inner_loop))
            nested = inner_loop or isinstance(statement, (cst.For, cst.While))
            for block in _blocks_of(statement):
                if descend(block, nested):
                    break
            return True
        return False

    descend(list(loop.body.body), False)  # type: ignore[union-attr]
    verdict = None
    for statements, index, inner_loop in path:
        for statement in statements[index:]:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, (cst.Return, cst.Raise)):
                    return "return"
                if isinstance(small, cst.Break) and not inner_loop:
                    verdict = "break"
    return verdict


def _blocks_of(statement: cst.CSTNode) -> list[list]:  # type: ignore[type-arg]
    """The statement lists directly inside a compound statement (body, else, except, finally)."""
    blocks = []
    body = getattr(statement, "body", None)
    if isinstance(body, cst.IndentedBlock):
        blocks.append(list(body.body))
    for part in ("orelse", "finalbody"):
        sub = getattr(statement, part, None)
        if sub is not None:
            blocks.extend(_blocks_of(sub))
    for handler in getattr(statement, "handlers", ()) or ():
        blocks.extend(_blocks_of(handler))
    return blocks


def _contains(root: cst.CSTNode, target: cst.CSTNode) -> bool:
    return any(node is target for node in walker.iter_nodes(root))
