"""NN2xx (train / eval mode) and NN3xx (checkpoints): behaviour beyond the rules' own examples --
whole training scripts in the shapes real code takes, messages that name the culprit, fixes applied
together, and the helpers the rules share (known models, the mode timeline)."""

from __future__ import annotations

import textwrap

import pytest

from nnlint.fixes import apply_edits
from nnlint.modes import same_model
from nnlint.rules import BUILTIN
from tests.conftest import lint_snippet

MY_CODES = ["NN202", "NN203", "NN204", "NN205", "NN206", "NN302", "NN303", "NN304"]


def findings(source: str, codes: list[str] | None = None) -> list:
    result = lint_snippet(textwrap.dedent(source), codes or MY_CODES)
    assert not result.errors, result.errors
    return result.findings


def summary(source: str, codes: list[str] | None = None) -> set[tuple[int, str]]:
    return {(f.line, f.code) for f in findings(source, codes)}


def fix_all(source: str, codes: list[str], unsafe: bool = False) -> str:
    source = textwrap.dedent(source)
    result = lint_snippet(source, codes)
    allowed = {"safe", "unsafe"} if unsafe else {"safe"}
    edits = [e for f in result.findings if f.fix and f.fix.applicability in allowed for e in f.fix.edits]
    return apply_edits(source, edits)


# -- whole scripts ---------------------------------------------------------------------------

PYTORCH_EXAMPLES_MNIST = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.optim.lr_scheduler import StepLR

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)
            self.dropout = nn.Dropout(0.25)

        def forward(self, x):
            return F.log_softmax(self.fc(self.dropout(torch.flatten(x, 1))), dim=1)

    def train(model, device, train_loader, optimizer, epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()

    def test(model, device, test_loader):
        model.eval()
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                correct += model(data.to(device)).argmax(1).eq(target.to(device)).sum().item()
        return correct

    def main(train_loader, test_loader):
        device = torch.device("cuda")
        model = Net().to(device)
        optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
        for epoch in range(1, 15):
            train(model, device, train_loader, optimizer, epoch)
            test(model, device, test_loader)
            scheduler.step()
        torch.save(model.state_dict(), "mnist_cnn.pt")
"""


def test_pytorch_examples_style_script_is_clean():
    assert findings(PYTORCH_EXAMPLES_MNIST) == []


NOTEBOOK_STYLE = """
    import torch
    import torch.nn as nn
    from tqdm import tqdm

    class Classifier(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(n, 64), nn.BatchNorm1d(64), nn.Dropout(0.3), nn.Linear(64, 2))

        def forward(self, x):
            return self.net(x)

    model = Classifier(10).cuda()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    best_acc = 0
    for epoch in range(20):
        for i, (inputs, labels) in enumerate(tqdm(train_loader)):
            optimizer.zero_grad()
            loss = criterion(model(inputs.cuda()), labels.cuda())
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for inputs, labels in val_loader:
                correct += (model(inputs.cuda()).argmax(1) == labels.cuda()).sum().item()
        if correct > best_acc:
            best_acc = correct
            torch.save(model, "best.pth")
    model.load_state_dict(torch.load("best.pth"), strict=False)
"""


def test_notebook_style_script_finds_each_mistake_once():
    assert summary(NOTEBOOK_STYLE) == {(24, "NN203"), (31, "NN304"), (32, "NN302"), (32, "NN303")}


def test_eval_message_names_model_and_next_step():
    (finding,) = findings(NOTEBOOK_STYLE, ["NN203"])
    assert "`model.eval()`" in finding.message
    assert "`loss.backward()`" in finding.message
    assert "call `model.train()` at the top of the loop" in finding.message


TRAINER_EVALUATING_EVERY_N_STEPS = """
    import torch
    import torch.nn as nn

    class Trainer:
        def __init__(self, model, train_loader, val_loader, cfg):
            self.model = model
            self.train_loader = train_loader
            self.val_loader = val_loader
            self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
            self.scaler = torch.cuda.amp.GradScaler()
            self.cfg = cfg

        def _train_step(self, batch):
            x, y = batch
            loss = nn.functional.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return loss.item()

        @torch.no_grad()
        def evaluate(self):
            self.model.eval()
            return sum((self.model(x).argmax(-1) == y).float().mean().item() for x, y in self.val_loader)

        def fit(self):
            global_step = 0
            for epoch in range(self.cfg.epochs):
                for batch in self.train_loader:
                    self._train_step(batch)
                    global_step += 1
                    if global_step % self.cfg.eval_every == 0:
                        print(self.evaluate())
"""


def test_trainer_class_helper_reported_at_the_call_with_both_helpers_named():
    (finding,) = findings(TRAINER_EVALUATING_EVERY_N_STEPS, ["NN203"])
    assert finding.line == 35
    assert "`evaluate()` puts `self.model` in eval mode" in finding.message
    assert "`_train_step()`" in finding.message


def test_trainer_class_silent_once_train_step_switches_back():
    fixed = TRAINER_EVALUATING_EVERY_N_STEPS.replace(
        "            x, y = batch\n", "            self.model.train()\n            x, y = batch\n"
    )
    assert findings(fixed, ["NN203"]) == []


def test_eval_inside_helper_loop_is_reported_once_not_again_at_caller():
    source = """
        def fit(model, loader, optimizer, val_x):
            for epoch in range(3):
                for x, y in loader:
                    model(x, y).backward()
                    optimizer.step()
                model.eval()
                model(val_x)

        def sweep(models, loader, optimizer, val_x):
            for model in models:
                fit(model, loader, optimizer, val_x)
    """
    assert summary(source, ["NN203"]) == {(7, "NN203")}


@pytest.mark.parametrize(
    "restore",
    [
        "model.train()",
        "model.train(True)",
        "model.train(mode=True)",
        "restore_mode(model)",  # code nnlint cannot see receives the model
    ],
)
def test_any_way_back_to_train_before_the_step_silences(restore):
    source = f"""
        from lib import restore_mode

        def fit(model, loader, optimizer, val_x):
            for epoch in range(3):
                {restore}
                for x, y in loader:
                    model(x, y).backward()
                    optimizer.step()
                model.eval()
                model(val_x)
    """
    assert findings(source, ["NN203"]) == []


def test_wrapped_model_train_covers_inner_module_eval():
    source = """
        def fit(model, loader, optimizer):
            for epoch in range(3):
                model.train()
                for x, y in loader:
                    model(x, y).backward()
                    optimizer.step()
                model.module.eval()
    """
    assert findings(source, ["NN203"]) == []


# -- fixes -----------------------------------------------------------------------------------


def test_safe_fixes_of_a_whole_file_compile_and_leave_nothing_to_fix():
    source = """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(me, x):
                return F.dropout(x, 0.5)

        def step(model, optimizer, loss, path):
            model.train
            optimizer.zero_grad
            loss.backward
            (optimizer.step)
            torch.save(model.state_dict, path)
    """
    fixed = fix_all(source, ["NN202", "NN204"])
    compile(fixed, "<fixed>", "exec")
    assert "F.dropout(x, 0.5, training=me.training)" in fixed  # the method's own name for self
    assert "(optimizer.step())" in fixed
    assert "torch.save(model.state_dict(), path)" in fixed
    assert findings(fixed, ["NN202", "NN204"]) == []


def test_unsafe_fixes_are_marked_unsafe_and_apply_cleanly():
    source = """
        import torch
        import torch.nn as nn

        model = nn.Linear(4, 2)
        state = torch.load("w.pt", map_location="cpu")
        y = model.forward(torch.randn(1, 4))
    """
    result = findings(source, ["NN206", "NN302"])
    assert {f.fix.applicability for f in result} == {"unsafe"}
    assert fix_all(source, ["NN206", "NN302"]) == textwrap.dedent(source)  # safe only: nothing
    fixed = fix_all(source, ["NN206", "NN302"], unsafe=True)
    assert 'torch.load("w.pt", map_location="cpu", weights_only=True)' in fixed
    assert "y = model(torch.randn(1, 4))" in fixed


# -- messages of the simpler rules ------------------------------------------------------------


def test_alpha_dropout_message_says_it_never_drops():
    source = """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(self, x):
                return F.feature_alpha_dropout(x, 0.1)
    """
    (finding,) = findings(source, ["NN202"])
    assert "never drops" in finding.message and "training=self.training" in finding.message


def test_train_override_that_only_recurses_says_the_flag_never_changes():
    source = """
        import torch.nn as nn

        class Net(nn.Module):
            def train(self, mode=True):
                for child in self.children():
                    child.train(mode)
                return self
    """
    (finding,) = findings(source, ["NN205"])
    assert finding.line == 5 and "`self.training` never changes" in finding.message


def test_train_override_that_only_sets_the_flag_is_reported_once():
    source = """
        import torch.nn as nn

        class Net(nn.Module):
            def train(self, mode=True):
                self.training = mode
                return self
    """
    (finding,) = findings(source, ["NN205"])
    assert finding.line == 5 and "submodules are never switched" in finding.message


def test_training_assignment_next_to_super_train_is_still_flagged():
    source = """
        import torch.nn as nn

        class Net(nn.Module):
            def train(self, mode=True):
                super().train(mode)
                self.training = True
                return self
    """
    assert summary(source, ["NN205"]) == {(7, "NN205")}


def test_strict_false_load_checks_names_the_receiver():
    source = """
        import torch

        def load(model, path):
            model.encoder.load_state_dict(torch.load(path, weights_only=True)["encoder"], strict=False)
    """
    (finding,) = findings(source, ["NN303"])
    assert "`model.encoder.load_state_dict(..., strict=False)`" in finding.message


def test_save_whole_model_only_for_known_modules_in_each_function():
    source = """
        import torch
        import torch.nn as nn

        def build():
            model = nn.Linear(2, 2)
            return model

        def save(model, path):
            torch.save(model, path)
    """
    assert findings(source, ["NN304"]) == []


# -- shared pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("model", "model", True),
        ("model", "model.module", True),
        ("self", "self.model", True),
        ("model", "model_ema", False),
        ("self.model", "self.teacher", False),
        ("*", "anything", True),
    ],
)
def test_same_model_matches_wrappers_and_submodules_not_prefixes_of_names(first, second, same):
    assert same_model(first, second) is same


def test_only_forward_and_torch_load_rules_are_off_by_default():
    # NN302 is noise wherever torch >= 2.6 is required; see bench/precision/mode_checkpoint.md.
    # NN206: tests call `.forward()` on purpose, and application code rarely has hooks to skip.
    assert {code for code in MY_CODES if not BUILTIN[code][1]} == {"NN206", "NN302"}


def test_eval_two_helpers_deep_is_followed_and_reported_at_the_loop():
    source = """
        import torch

        def _switch_to_eval(net):
            net.eval()

        def validate(net, data):
            _switch_to_eval(net)
            with torch.no_grad():
                return net(data)

        def run_epoch(net, loader, optimizer):
            for x, y in loader:
                net(x, y).backward()
                optimizer.step()
                optimizer.zero_grad()

        def fit(model, loader, optimizer, data):
            model.train()
            for epoch in range(10):
                run_epoch(model, loader, optimizer)
                validate(model, data)
    """
    (finding,) = findings(source, ["NN203"])
    assert finding.line == 22
    assert "`validate()` puts `model` in eval mode" in finding.message
    assert "`run_epoch()`" in finding.message
