"""Issue 13, right on application code: NN601 reports one finding per statement, not one per loss
call fed by the same softmax model; NN206 is off by default (tests call `.forward()` on purpose)
and runs when selected."""

from __future__ import annotations

import textwrap

from nnlint.registry import Registry
from tests.conftest import REPO, lint_snippet, run_cli

# eriklindernoren/PyTorch-GAN, implementations/pixelda/pixelda.py (trimmed): the classifier ends
# in nn.Softmax, and line 250 feeds it to CrossEntropyLoss twice in one statement.
PIXELDA = """
    import torch
    import torch.nn as nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.output_layer = nn.Sequential(nn.Linear(512, 10), nn.Softmax())

        def forward(self, img):
            return self.output_layer(img)

    task_loss = torch.nn.CrossEntropyLoss()
    classifier = Classifier()

    for imgs_A, labels_A, fake_B in loader:
        label_pred = classifier(fake_B)
        task_loss_ = (task_loss(label_pred, labels_A) + task_loss(classifier(imgs_A), labels_A)) / 2
        other = task_loss(classifier(imgs_A), labels_A)
"""


def _findings(source: str, codes: list[str]):
    result = lint_snippet(textwrap.dedent(source), codes)
    assert not result.errors, result.errors
    return result.findings


def test_nn601_one_finding_per_statement_naming_every_softmax_input():
    first, second = _findings(PIXELDA, ["NN601"])
    assert (first.line, first.column) == (18, 29)  # at the first input of the statement
    assert first.message.startswith(
        "`label_pred` and `classifier(imgs_A)` hold softmax probabilities, but `task_loss` applies "
        "log_softmax to its input itself"
    )
    # Another statement is another finding.
    assert second.line == 19 and second.message.startswith("`classifier(imgs_A)` holds softmax probabilities")


def test_nn601_different_losses_in_one_statement():
    source = """
        import torch.nn as nn
        import torch.nn.functional as F

        criterion = nn.CrossEntropyLoss()

        def step(model, x, y):
            probs = F.softmax(model(x), dim=1)
            return criterion(probs, y) + F.cross_entropy(probs, y)
    """
    (finding,) = _findings(source, ["NN601"])
    assert finding.message.startswith(
        "`probs` holds softmax probabilities, but `criterion` and `F.cross_entropy` apply log_softmax to their input"
    )


def test_nn601_statements_each_get_their_finding():
    source = """
        import torch.nn.functional as F

        def step(model, x, y, z, extra):
            probs = F.softmax(model(x), dim=1)
            loss = F.cross_entropy(probs, y)
            if extra: loss = loss + F.cross_entropy(probs, z); aux = F.cross_entropy(probs, y)
            return loss + F.cross_entropy(probs, z)
    """
    # One statement line (a suite of two small statements) is one finding.
    assert [f.line for f in _findings(source, ["NN601"])] == [6, 7, 8]


FORWARD = """
    import torch.nn as nn

    def test_relu_matches_reference():
        relu = nn.ReLU()
        assert relu.forward(x).equal(reference(x))
"""


def test_nn206_is_off_by_default_and_runs_when_selected(tmp_path):
    assert not Registry().entries["NN206"].default_enabled
    (tmp_path / "test_ops.py").write_text(textwrap.dedent(FORWARD))
    default = run_cli("--isolated", "--no-cache", "test_ops.py", cwd=tmp_path)
    assert default.code == 0, default.out
    selected = run_cli("--isolated", "--no-cache", "--extend-select", "NN206", "test_ops.py", cwd=tmp_path)
    assert selected.code == 1 and "NN206" in selected.out
    assert "--extend-select NN206" in (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
