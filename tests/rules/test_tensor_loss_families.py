"""NN5xx (tensors and devices) and NN6xx (losses and activations): the value analysis behind them
(nnlint/tensors.py) and behaviour the rules' own examples do not pin down."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from nnlint.context import FileContext
from nnlint.project import ClassHierarchy
from nnlint.semantic import collect_facts
from nnlint.tensors import (
    LOG_PROBS,
    LOGITS,
    PROBS,
    RETURNS,
    TENSOR,
    UNBOUND_PARAMETER,
    activation_dataflows,
    tensor_dataflows,
)
from tests.conftest import lint_snippet


def _context(source: str) -> FileContext:
    tree = cst.parse_module(source)
    return FileContext("snippet.py", source, tree, collect_facts(tree), ClassHierarchy(lambda *a: None))


def _kinds_at_marker(source: str, dataflows_for) -> dict[str, str]:
    """The known kinds of variables before the statement `marker()` in the first function (or
    at module level when there is no function)."""
    source = textwrap.dedent(source)
    ctx = _context(source)
    functions = [s for s in ctx.module.body if isinstance(s, cst.FunctionDef)]
    scope = functions[0] if functions else None
    flow = dataflows_for(ctx).flow(scope)
    for small, env in flow.before.items():
        if ctx.module.code_for_node(small).strip() == "marker()":
            return {name: kind for name, kind in env.items() if kind != UNBOUND_PARAMETER}
    raise AssertionError("no marker() statement")


def _tensors(source: str) -> set[str]:
    return {name for name, kind in _kinds_at_marker(source, tensor_dataflows).items() if kind == TENSOR}


def _messages(source: str, code: str) -> list[tuple[int, str]]:
    result = lint_snippet(textwrap.dedent(source), [code])
    assert not result.errors, result.errors
    return [(f.line, f.message) for f in result.findings]


# -- tensor inference --------------------------------------------------------------------------


def test_factories_functions_and_tensor_methods_make_tensors():
    assert _tensors(
        """
        import torch
        import torch.nn.functional as F
        from torch import Tensor

        def f(x: Tensor, m: "torch.Tensor", o: Tensor | None, n, loader, model):
            a = torch.zeros(3)
            b = F.relu(n)
            c = n.detach()
            d = a.float().view(-1)[0] * 2
            e = model(a)
            g = a.shape
            h = a.tolist()
            marker()
        """
    ) == {"x", "m", "o", "a", "b", "c", "d"}


def test_branches_keep_a_kind_only_when_both_arms_agree():
    assert _tensors(
        """
        import torch

        def f(flag, model):
            both = torch.zeros(1)
            one = torch.zeros(1)
            if flag:
                both = torch.ones(1)
                one = model
            else:
                both = both.cuda()
            marker()
        """
    ) == {"both"}


def test_loop_bodies_see_rebindings_from_later_iterations():
    # `x` is a tensor on the first iteration only: inside the loop it is unknown.
    source = """
        import torch

        def f(model, loader):
            x = torch.zeros(1)
            for batch in loader:
                marker()
                x = model(batch)
        """
    assert _tensors(source) == set()


def test_a_break_carries_its_state_out_of_the_loop():
    source = """
        import torch

        def f(model, loader, device):
            x = torch.zeros(1)
            for batch in loader:
                x = model
                if batch:
                    break
                x = torch.ones(1)
            x.to(device)
        """
    assert _messages(source, "NN501") == []


def test_loop_variables_try_and_with_targets_are_unknown():
    assert _tensors(
        """
        import torch

        def f(loader, opener):
            kept = torch.zeros(1)
            lost = torch.zeros(1)
            for batch in loader:
                pass
            with opener() as handle:
                pass
            try:
                lost = torch.load("x")
                lost = torch.ones(1)
            except OSError:
                marker()
        """
    ) == {"kept"}


def test_module_level_tensors_are_seen_in_functions_that_do_not_rebind_them():
    source = """
        import torch

        def uses_global(device):
            table.to(device)

        table = torch.eye(3)

        def shadows_it(table, device):
            table.to(device)
        """
    assert [line for line, _ in _messages(source, "NN501")] == [5]


# -- activation kinds ------------------------------------------------------------------------------


def test_activation_kinds_follow_layers_sequentials_and_model_classes():
    kinds = _kinds_at_marker(
        """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)

            def forward(self, x):
                return self.fc(x)

        def f(x):
            net = Net().to("cuda")
            logits = net(x)
            seq = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
            probs = seq(x).view(-1, 3)
            logp = torch.log(probs)
            logp2 = F.log_softmax(logits, 1)
            changed = probs.clone()
            marker()
        """,
        activation_dataflows,
    )
    assert kinds == {
        "net": RETURNS + LOGITS,
        "logits": LOGITS,
        "seq": RETURNS + PROBS,
        "probs": PROBS,
        "logp": LOG_PROBS,
        "logp2": LOG_PROBS,
    }


_HELPER_GETS_MODEL = """
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)

def train(model, loader):
    for x, y in loader:
        F.nll_loss(model(x), y).backward()
"""
_MAIN_PASSES_NET = "def main(loader):\n    model = Net()\n    train(model, loader)\n"


@pytest.mark.parametrize(
    ("callers", "flagged"),
    [
        (_MAIN_PASSES_NET, True),
        ("net = Net().cuda()\ntrain(net, [])\n", True),
        # Another caller passes something else.
        (_MAIN_PASSES_NET + "def other(model, loader):\n    train(model, loader)\n", False),
        # The helper escapes (a callback): its callers are not all visible.
        (_MAIN_PASSES_NET + "CALLBACKS = [train]\n", False),
        # No caller in the file.
        ("", False),
    ],
)
def test_a_helper_parameter_takes_the_kind_every_caller_in_the_file_passes(callers, flagged):
    assert bool(_messages(_HELPER_GETS_MODEL + callers, "NN603")) is flagged


def test_a_self_method_named_softmax_is_not_assumed_to_be_softmax():
    assert _messages(
        """
        import torch.nn as nn

        class Head(nn.Module):
            def softmax(self, x):
                return x

            def loss(self, x, y):
                return nn.CrossEntropyLoss()(self.softmax(x), y)
        """,
        "NN601",
    ) == []


def test_comprehension_variables_shadow_the_function_variable():
    assert _messages(
        """
        import torch.nn.functional as F

        def f(outputs, y):
            out = F.softmax(outputs[0], dim=1)
            return sum(F.cross_entropy(out, y) for out in outputs)
        """,
        "NN601",
    ) == []


def test_an_in_place_log_turns_probabilities_into_log_probabilities():
    assert _messages(
        """
        import torch.nn.functional as F

        def f(logits, y):
            p = F.softmax(logits, dim=1)
            p.log_()
            return F.nll_loss(p, y)
        """,
        "NN603",
    ) == []


# -- rule behaviour ------------------------------------------------------------------------------


def test_nn501_names_the_variable_and_the_assignment_to_write():
    [(line, message)] = _messages(
        """
        import torch

        def f(device):
            x = torch.zeros(3)
            x.to(device)
            return x
        """,
        "NN501",
    )
    assert line == 6
    assert "`x.to(device)`" in message and "write `x = x.to(device)`" in message


def test_nn501_suggests_the_in_place_twin_when_there_is_one():
    [(_, message)] = _messages("import torch\nx = torch.zeros(3)\nx.unsqueeze(0)\n", "NN501")
    assert "`x.unsqueeze_(...)`" in message


@pytest.mark.parametrize(
    "statement",
    ["self.buffer.to(device)", "model.cuda()", "batch.to(device)", "x.item()", "x.type()"],
)
def test_nn501_is_silent_on_unknown_receivers_and_non_tensor_methods(statement):
    source = f"import torch\n\ndef f(self, model, batch, device):\n    x = torch.zeros(1)\n    {statement}\n"
    assert _messages(source, "NN501") == []


def test_nn502_names_the_tensor_the_hazard_and_the_no_grad_form():
    [(line, message)] = _messages(
        """
        def train(model, opt, x, y):
            loss = model(x, y)
            for p in model.parameters():
                p.data.clamp_(-0.01, 0.01)
            loss.backward()
            opt.step()
        """,
        "NN502",
    )
    assert line == 5
    assert "between building `loss` and `loss.backward()`" in message
    assert "`with torch.no_grad(): p.clamp_(...)`" in message


def test_nn502_in_forward_names_the_layer_used_before_the_write():
    [(_, message)] = _messages(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)

            def forward(self, x):
                y = self.proj.forward(x)
                self.proj.bias.data += 1
                return y
        """,
        "NN502",
    )
    assert "after `self.proj.bias` was used" in message
    assert "`with torch.no_grad(): self.proj.bias += 1`" in message


def test_nn502_calling_a_model_of_our_own_does_not_count_as_using_its_parameters():
    # `Backbone.forward` need not touch `logit_scale` (a later head uses it).
    source = """
        import torch.nn as nn

        class Pretraining(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = Backbone()

            def forward(self, x):
                features = self.backbone(x)
                self.backbone.logit_scale.data.clamp_(0, 4.6)
                return features * self.backbone.logit_scale.exp()
        """
    assert _messages(source, "NN502") == []


@pytest.mark.parametrize(
    "body",
    [
        # A helper that does not train.
        "for e, p in zip(ema.parameters(), model.parameters()):\n        e.data.mul_(0.9).add_(p.data)",
        # The graph is built by the same expression that runs backward.
        "p.data.zero_()\n    model(x).backward()",
        # Writes in a function nested in the training function are not ordered with it.
        "loss = model(x)\n    def clip():\n        p.data.clamp_(0, 1)\n    loss.backward()",
    ],
)
def test_nn502_is_silent_where_no_saved_tensor_can_be_hit(body):
    source = f"def f(model, ema, p, x):\n    {body}\n"
    assert _messages(source, "NN502") == []


def test_nn503_suggests_no_grad_for_volatile_true():
    [(_, message)] = _messages(
        "from torch.autograd import Variable\nx = Variable(t, volatile=True)\n", "NN503"
    )
    assert "torch.no_grad()" in message


def test_nn601_names_the_input_and_the_loss():
    [(_, message)] = _messages(
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Trainer:
            def __init__(self):
                self.criterion = nn.CrossEntropyLoss()

            def step(self, logits, y):
                probs = F.softmax(logits, dim=1)
                return self.criterion(probs, y)
        """,
        "NN601",
    )
    assert "`probs`" in message and "`self.criterion`" in message and "logits" in message


def test_nn601_is_silent_when_the_loss_attribute_is_reassigned_to_another_loss():
    source = """
        import torch.nn as nn
        import torch.nn.functional as F

        class Trainer:
            def __init__(self, smooth):
                self.criterion = nn.CrossEntropyLoss()
                if smooth:
                    self.criterion = SmoothedLoss()

            def step(self, logits, y):
                return self.criterion(F.softmax(logits, dim=1), y)
        """
    assert _messages(source, "NN601") == []


def test_nn603_reports_raw_logits_from_a_linear_layer():
    [(_, message)] = _messages(
        """
        import torch.nn as nn

        head = nn.Linear(8, 3)
        criterion = nn.NLLLoss()

        def step(x, y):
            return criterion(head(x), y)
        """,
        "NN603",
    )
    assert "raw logits" in message and "log_softmax" in message


def test_nn604_suggests_an_explicit_dim():
    [(_, message)] = _messages("import torch.nn as nn\nact = nn.Softmax()\n", "NN604")
    assert "`nn.Softmax(dim=-1)`" in message
