"""NN4xx (the training loop): behaviour beyond the rules' own examples -- messages, helpers reported
once, names that decide what a variable holds, fixes, and look-alikes that must stay silent."""

from __future__ import annotations

import pytest

from nnlint.fixes import apply_edits
from nnlint.rules.loop._steps import OPTIMIZER, SCALER, SCHEDULER, kind_by_name, kind_of_constructor
from tests.conftest import lint_snippet


def findings(source: str, code: str) -> list:
    result = lint_snippet(source, [code])
    assert not result.errors, result.errors
    return result.findings


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("optimizer", OPTIMIZER),
        ("self.optimizer", OPTIMIZER),
        ("opt_g", OPTIMIZER),
        ("optimizerD", OPTIMIZER),
        ("d_optim", OPTIMIZER),
        ("lr_scheduler", SCHEDULER),
        ("self.scheduler", SCHEDULER),
        ("warmup_sched", SCHEDULER),
        ("grad_scaler", SCALER),
        ("noise_scheduler", None),  # diffusion sampling, not a learning rate
        ("opt_sched", None),  # ambiguous
        ("trainer", None),
        ("env", None),
        ("optimal", None),
    ],
)
def test_kind_by_name_only_when_unambiguous(name, kind):
    assert kind_by_name(name) == kind


@pytest.mark.parametrize(
    ("qualname", "kind"),
    [
        ("torch.optim.AdamW", OPTIMIZER),
        ("torch.optim.lr_scheduler.OneCycleLR", SCHEDULER),
        ("torch.optim.swa_utils.SWALR", SCHEDULER),
        ("torch.optim.swa_utils.AveragedModel", None),
        ("transformers.get_cosine_schedule_with_warmup", SCHEDULER),
        ("torch.cuda.amp.GradScaler", SCALER),
        ("timm.optim.create_optimizer_v2", OPTIMIZER),
        ("bitsandbytes.optim.AdamW8bit", OPTIMIZER),
        ("torch.nn.Linear", None),
    ],
)
def test_kind_of_constructor(qualname, kind):
    assert kind_of_constructor(qualname) == kind


def test_missing_zero_grad_message_names_the_calls_and_the_fix():
    source = (
        "def fit(model, optimizer, loader):\n"
        "    for epoch in range(3):\n"
        "        for x, y in loader:\n"
        "            loss = model(x, y)\n"
        "            loss.backward()\n"
        "            optimizer.step()\n"
    )
    [finding] = findings(source, "NN401")
    assert finding.line == 6
    assert "`optimizer.step()`" in finding.message
    assert "`loss.backward()`" in finding.message
    assert "`for x, y` loop" in finding.message
    assert "`optimizer.zero_grad()`" in finding.message


def test_missing_zero_grad_in_a_module_level_script():
    source = (
        "import torch\n\n"
        "model = torch.nn.Linear(2, 1)\n"
        "opt = torch.optim.Adam(model.parameters())\n"
        "for step in range(100):\n"
        "    loss = model(torch.randn(8, 2)).pow(2).mean()\n"
        "    loss.backward()\n"
        "    opt.step()\n"
    )
    assert [f.line for f in findings(source, "NN401")] == [8]


@pytest.mark.parametrize(
    "loop_body",
    [
        # An inherited trainer method that may clear gradients.
        "            self.after_optimizer_step()\n",
        # Code nnlint cannot see, handed the optimizer.
        "            hooks.on_step_end(self.optimizer)\n",
        # `del p.grad` for every parameter.
        "            for p in self.model.parameters():\n                del p.grad\n",
    ],
)
def test_missing_zero_grad_silent_when_clearing_may_happen_elsewhere(loop_body):
    source = (
        "import hooks\n\n"
        "class Trainer(hooks.BaseTrainer):\n"
        "    def fit(self, loader):\n"
        "        for x, y in loader:\n"
        "            self.model(x, y).backward()\n"
        "            self.optimizer.step()\n"
        f"{loop_body}"
    )
    assert findings(source, "NN401") == []


def test_misplaced_zero_grad_inside_a_helper_is_reported_once_in_the_helper():
    source = (
        "def step(model, optimizer, x, y):\n"
        "    model(x, y).backward()\n"
        "    optimizer.zero_grad()\n"
        "    optimizer.step()\n\n"
        "def fit(model, optimizer, loader):\n"
        "    for x, y in loader:\n"
        "        step(model, optimizer, x, y)\n"
    )
    assert [f.line for f in findings(source, "NN403")] == [3]


def test_zero_grad_before_an_early_return_is_not_misplaced():
    source = (
        "import torch\n\n"
        "def training_step(model, optimizer, batch):\n"
        "    loss = model(batch)\n"
        "    loss.backward()\n"
        "    if not torch.isfinite(loss):\n"
        "        optimizer.zero_grad()\n"
        "        return None\n"
        "    optimizer.step()\n"
        "    return loss\n"
    )
    assert findings(source, "NN403") == []


def test_clip_after_step_in_a_helper_called_after_the_step():
    source = (
        "import torch\n\n"
        "def clip_and_log(model, log):\n"
        "    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    log.append(norm)\n\n"
        "def fit(model, optimizer, loader, log):\n"
        "    for x, y in loader:\n"
        "        optimizer.zero_grad()\n"
        "        model(x, y).backward()\n"
        "        optimizer.step()\n"
        "        clip_and_log(model, log)\n"
    )
    [finding] = findings(source, "NN404")
    assert finding.line == 12
    assert "`clip_and_log()`" in finding.message and "`optimizer.step()`" in finding.message


def test_scheduler_named_for_another_optimizer_waits_for_that_one_only():
    source = (
        "import torch\n\n"
        "def fit(enc, dec, loader):\n"
        "    opt_enc = torch.optim.Adam(enc.parameters())\n"
        "    opt_dec = torch.optim.Adam(dec.parameters())\n"
        "    sched_dec = torch.optim.lr_scheduler.StepLR(opt_dec, 10)\n"
        "    for x in loader:\n"
        "        enc(x).sum().backward()\n"
        "        opt_enc.step()\n"
        "        sched_dec.step()\n"
        "        dec(x).sum().backward()\n"
        "        opt_dec.step()\n"
    )
    assert [f.line for f in findings(source, "NN405")] == [10]


def test_scheduler_with_an_optimizer_like_name_is_told_apart_by_construction():
    source = (
        "import torch\n\n"
        "def fit(model, loader):\n"
        "    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "    opt_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 100)\n"
        "    for x in loader:\n"
        "        opt.zero_grad()\n"
        "        model(x).sum().backward()\n"
        "        opt_schedule.step()\n"
        "        opt.step()\n"
    )
    assert [f.line for f in findings(source, "NN405")] == [9]
    assert findings(source, "NN401") == []


def test_accumulated_loss_fix_keeps_a_tensor_when_the_list_is_stacked():
    source = (
        "import torch\n\n"
        "def fit(model, optimizer, loader):\n"
        "    losses = []\n"
        "    for x, y in loader:\n"
        "        optimizer.zero_grad()\n"
        "        loss = model(x, y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        "        losses.append(loss)\n"
        "    return torch.stack(losses).mean().item()\n"
    )
    [finding] = findings(source, "NN402")
    assert "`losses.append(loss)`" in finding.message
    fixed = apply_edits(source, list(finding.fix.edits))
    assert "losses.append(loss.detach())" in fixed
    assert findings(fixed, "NN402") == []


def test_accumulated_loss_silent_for_a_loss_not_computed_in_the_loop():
    # `penalty` is computed once, outside the loop: adding it is not a per-iteration leak.
    source = (
        "def fit(model, optimizer, loader, penalty_fn):\n"
        "    penalty = penalty_fn(model)\n"
        "    total = 0\n"
        "    for x, y in loader:\n"
        "        optimizer.zero_grad()\n"
        "        (model(x, y) + penalty).backward(retain_graph=True)\n"
        "        optimizer.step()\n"
        "        total += penalty\n"
    )
    assert findings(source, "NN402") == []


def test_optimizer_in_loop_silent_when_the_loop_reloads_the_weights():
    source = (
        "import torch\n\n"
        "def restarts(model, loader, initial_state):\n"
        "    for run in range(5):\n"
        "        model.load_state_dict(initial_state)\n"
        "        opt = torch.optim.Adam(model.parameters())\n"
        "        for x, y in loader:\n"
        "            opt.zero_grad()\n"
        "            model(x, y).backward()\n"
        "            opt.step()\n"
    )
    assert findings(source, "NN406") == []


def test_loop_rules_ignore_code_without_training():
    # A diffusion sampling loop: `scheduler.step(...)` takes arguments and nothing is trained.
    source = (
        "import torch\n\n"
        "@torch.no_grad()\n"
        "def sample(unet, scheduler, latents):\n"
        "    for t in scheduler.timesteps:\n"
        "        noise_pred = unet(latents, t)\n"
        "        latents = scheduler.step(noise_pred, t, latents).prev_sample\n"
        "    return latents\n"
    )
    result = lint_snippet(source, ["NN401", "NN402", "NN403", "NN404", "NN405", "NN406"])
    assert not result.errors and result.findings == []


def test_optimizer_in_loop_silent_when_the_model_is_rebuilt_by_code_nnlint_cannot_see():
    source = (
        "import torch\n"
        "from lib import build_net\n\n"
        "class CrossValidation:\n"
        "    def run(self, folds):\n"
        "        for fold in folds:\n"
        "            self.model = build_net(fold)\n"
        "            self.opt = torch.optim.Adam(self.model.parameters())\n"
        "            for x, y in fold:\n"
        "                self.opt.zero_grad()\n"
        "                self.model(x, y).backward()\n"
        "                self.opt.step()\n"
    )
    assert findings(source, "NN406") == []
    rebuilt_elsewhere = source.replace("            self.model = build_net(fold)\n", "")
    assert [f.line for f in findings(rebuilt_elsewhere, "NN406")] == [7]
