"""The project model across files: a model class in one file, built at module level of a script,
passed to a helper of a third file; summaries answer "does it act differently in eval mode", "what
does its forward end in", "what does this helper do to the model it is given". Through the real
console script, with and without the cache."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nnlint.summaries import summarise_code
from tests.conftest import run_cli

MODELS = """
    import torch.nn as nn
    import torch.nn.functional as F


    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x)


    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.1)


    class Child(Base):
        def forward(self, x):
            return self.drop(x)


    class Softmaxed(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))

        def forward(self, x):
            return self.net(x)


    class Probs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            x = self.fc(x)
            return F.softmax(x, dim=-1)
"""

UTILS = """
    import torch


    def evaluate(model, loader):
        with torch.no_grad():
            return [model(x).argmax(1) for x, _ in loader]


    def validate(model, loader):
        model.eval()
        with torch.no_grad():
            return [model(x).argmax(1) for x, _ in loader]
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))


def lint(root: Path, target: str, *extra: str) -> set[tuple[int, str]]:
    result = run_cli("--isolated", "--no-cache", "--output-format", "json", *extra, target, cwd=root)
    assert result.code in (0, 1), result.out + result.err
    return {(item["line"], item["code"]) for item in result.json()}


TRAIN = """
    import torch
    import torch.nn as nn
    from models import {cls}
    from utils import evaluate, validate

    model = {cls}()
    criterion = nn.CrossEntropyLoss()


    def predict(x):
        with torch.no_grad():
            return model(x).argmax(1)


    if __name__ == "__main__":
        labels = predict(torch.randn(2, 4))
        scores = evaluate(model, [])
        checked = validate(model, [])
"""


@pytest.mark.parametrize(("cls", "reported"), [("Plain", False), ("Child", True)])
def test_nn201_asks_the_class_of_another_file_whether_eval_matters(tmp_path, cls, reported):
    write(tmp_path, {"models.py": MODELS, "utils.py": UTILS, "train.py": TRAIN.format(cls=cls)})
    found = {f for f in lint(tmp_path, "train.py", "--select", "NN201")}
    # The global model run by `predict()`, and `evaluate()` of utils.py that never calls eval();
    # `validate()` switches the model itself.
    assert found == ({(17, "NN201"), (18, "NN201")} if reported else set())


@pytest.mark.parametrize(
    ("header", "reported"),
    [
        # A library model (the table): assumed to hold dropout or batch norm.
        ("import torchvision\n\nclass Net(torchvision.models.ResNet):\n    pass\n", True),
        # A Module class that calls a module it is handed: as sensitive as what it is handed.
        ("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, body=None):\n        super().__init__()\n        self.body = body\n\n    def forward(self, x):\n        return self.body(x)\n", False),
    ],
)
def test_nn201_policy_for_classes_it_cannot_see_into(tmp_path, header, reported):
    script = header + "\nimport torch\n\nmodel = Net()\nwith torch.no_grad():\n    out = model(torch.randn(1, 4))\nprint(out.argmax(1))\n"
    write(tmp_path, {"train.py": script})
    line = script.splitlines().index("    out = model(torch.randn(1, 4))") + 1
    assert lint(tmp_path, "train.py", "--select", "NN201") == ({(line, "NN201")} if reported else set())


def test_nn201_module_handed_to_a_wrapper_class_makes_it_sensitive(tmp_path):
    script = (
        "import torch\nimport torch.nn as nn\nfrom elsewhere import backbone\n\nclass Net(nn.Module):\n"
        "    def __init__(self, body):\n        super().__init__()\n        self.body = body\n\n"
        "    def forward(self, x):\n        return self.body(x)\n\nmodel = Net(backbone)\n"
        "with torch.no_grad():\n    out = model(torch.randn(1, 4))\nprint(out.argmax(1))\n"
    )
    write(tmp_path, {"train.py": script})
    assert lint(tmp_path, "train.py", "--select", "NN201") == {(15, "NN201")}


@pytest.mark.parametrize("cls", ["Softmaxed", "Probs"])
def test_nn601_model_of_another_file_ending_in_softmax(tmp_path, cls):
    train = f"""
        import torch.nn as nn
        from models import {cls}

        model = {cls}()
        criterion = nn.CrossEntropyLoss()


        def train(loader, opt):
            for x, y in loader:
                loss = criterion(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
    """
    write(tmp_path, {"models.py": MODELS, "train.py": train})
    assert lint(tmp_path, "train.py", "--select", "NN601") == {(11, "NN601")}


def test_nn601_silent_for_a_model_of_another_file_returning_logits(tmp_path):
    train = "import torch.nn as nn\nfrom models import Plain\n\nmodel = Plain()\nloss = nn.CrossEntropyLoss()(model(x), y)\n"
    write(tmp_path, {"models.py": MODELS, "train.py": train})
    assert lint(tmp_path, "train.py", "--select", "NN601") == set()


def test_nn304_global_model_saved_inside_a_function(tmp_path):
    train = "import torch\nfrom models import Plain\n\nmodel = Plain()\n\ndef save(path):\n    torch.save(model, path)\n\ndef save_given(model, path):\n    torch.save(model.state_dict(), path)\n"
    write(tmp_path, {"models.py": MODELS, "train.py": train})
    assert lint(tmp_path, "train.py", "--select", "NN304") == {(7, "NN304")}


def test_editing_the_model_file_relints_the_script(tmp_path):
    """Summaries are facts of the files they come from: the cached result of train.py depends on
    models.py, so changing the class changes the finding."""
    train = "import torch.nn as nn\nfrom models import Softmaxed\n\nmodel = Softmaxed()\nloss = nn.CrossEntropyLoss()(model(x), y)\n"
    write(tmp_path, {"models.py": MODELS, "train.py": train})
    args = ("--isolated", "--cache-dir", str(tmp_path / "cache"), "--select", "NN601", "--output-format", "json", "train.py")
    first = run_cli(*args, cwd=tmp_path)
    assert [item["line"] for item in first.json()] == [5]
    (tmp_path / "models.py").write_text(textwrap.dedent(MODELS).replace("nn.Linear(4, 3), nn.Softmax(dim=1)", "nn.Linear(4, 3)"))
    second = run_cli(*args, cwd=tmp_path)
    assert second.json() == [], second.out


def test_a_file_given_alone_still_reads_its_dependencies_from_disk(tmp_path):
    """pre-commit passes only the changed file: cross-file facts come from disk."""
    write(tmp_path, {"models.py": MODELS, "utils.py": UTILS, "train.py": TRAIN.format(cls="Child")})
    result = run_cli("--isolated", "--no-cache", "--select", "NN201", str(tmp_path / "train.py"))
    assert result.code == 1 and "evaluate()` (in another file)" in result.out


# -- the summaries themselves ------------------------------------------------------------------


def test_class_summary_records_what_forward_ends_in_and_what_it_builds():
    code = summarise_code(textwrap.dedent(MODELS))
    assert code is not None
    assert code.classes["Probs"].forward_ends == "softmax"
    assert code.classes["Softmaxed"].forward_last == "net"
    assert code.classes["Softmaxed"].attributes["net"].last_argument == "nn.Softmax"
    (dropout,) = [b for b in code.classes["Base"].builds if b.callee != "super"]
    assert (dropout.callee, dropout.positional, dropout.stored) == ("nn.Dropout", ("nonzero",), True)
    assert not code.classes["Plain"].reads_training


def test_function_summary_records_mode_effects_and_inference():
    code = summarise_code(textwrap.dedent(UTILS))
    assert code is not None
    assert code.functions["evaluate"].infers == {"model"} and code.functions["evaluate"].effect == {}
    assert code.functions["validate"].effect == {"model": "eval"} and code.functions["validate"].infers == set()


def test_summary_of_unparsable_text_is_none():
    assert summarise_code("def broken(:\n") is None
