"""NN104-NN110 beyond their inline examples: classes from other files, helpers' edge cases,
suppression of multi-line findings, and fixes on awkward expressions."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlint.engine import Engine
from nnlint.fixes import apply_edits
from nnlint.patterns import edit_distance
from nnlint.project import ClassHierarchy, summarise_source
from nnlint.registry import Registry
from nnlint.rules.module.forward_name_typo import near_miss_of_forward
from nnlint.rules.module.requires_grad_typo import near_miss_of_requires_grad
from tests.conftest import lint_snippet

REGISTRY = Registry.with_plugins()


def _lint_in_package(tmp_path: Path, files: dict[str, str], target: str, code: str):
    """Lint ``target`` of a package written under ``tmp_path``, with the cross-file class index."""
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "pkg" / "__init__.py").touch()
    engine = Engine(ClassHierarchy(lambda p, m, is_pkg: summarise_source(p.read_text(), m, is_pkg), [tmp_path]))
    module = "pkg." + target.removesuffix(".py")
    return engine.lint(files[target], str(tmp_path / "pkg" / target), [REGISTRY.load(code)], module=module)


BLOCK = "import torch.nn as nn\n\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n"


def test_nn104_layers_of_a_class_from_another_file(tmp_path):
    model = (
        "import torch.nn as nn\nfrom .blocks import Block\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.blocks = [Block() for _ in range(3)]\n"
    )
    result = _lint_in_package(tmp_path, {"blocks.py": BLOCK, "model.py": model}, "model.py", "NN104")
    assert [(f.line, f.code) for f in result.findings] == [(7, "NN104")]
    assert "`Block` layers" in result.findings[0].message
    assert "nn.ModuleList(...)" in result.findings[0].message


def test_nn104_silent_when_the_element_class_cannot_be_seen(tmp_path):
    model = (
        "import torch.nn as nn\nfrom elsewhere import Block\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.blocks = [Block() for _ in range(3)]\n"
    )
    result = _lint_in_package(tmp_path, {"model.py": model}, "model.py", "NN104")
    assert result.findings == []


def test_nn104_noqa_anywhere_on_a_multiline_assignment():
    source = (
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = [\n            nn.Linear(2, 2),\n        ]  # noqa: NN104\n"
    )
    assert lint_snippet(source, ["NN104"]).findings == []


def test_nn104_mixed_list_is_reported_without_fix():
    source = (
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.parts = [nn.Linear(2, 2), 'skip']\n        self.table = {1: nn.Linear(2, 2)}\n"
    )
    findings = lint_snippet(source, ["NN104"]).findings
    assert [f.line for f in findings] == [6, 7]
    assert all(f.fix is None for f in findings)  # ModuleList needs modules; ModuleDict needs str keys


def test_nn104_annotated_empty_list_keeps_its_annotation_in_the_fix():
    source = (
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers: list[nn.Module] = []\n        self.layers.append(nn.Conv2d(3, 3, 1))\n"
    )
    [finding] = lint_snippet(source, ["NN104"]).findings
    fixed = apply_edits(source, finding.fix.edits)
    assert "self.layers: list[nn.Module] = nn.ModuleList()\n" in fixed
    assert lint_snippet(fixed, ["NN104"]).findings == []


def test_nn104_fix_adds_import_when_the_file_has_no_torch_name():
    source = (
        "from torch.nn import Module, Linear\n\nclass Net(Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = [Linear(2, 2), Linear(2, 2)]\n"
    )
    [finding] = lint_snippet(source, ["NN104"]).findings
    fixed = apply_edits(source, finding.fix.edits)
    assert "import torch\n" in fixed.splitlines(keepends=True)[:3]
    assert "self.layers = torch.nn.ModuleList([Linear(2, 2), Linear(2, 2)])" in fixed


def test_nn105_parameters_appended_from_a_local():
    source = (
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.ws = []\n        for _ in range(3):\n            w = nn.Parameter(torch.zeros(2))\n            self.ws.append(w)\n"
    )
    [finding] = lint_snippet(source, ["NN105"]).findings
    assert finding.line == 7 and "nn.ParameterList(...)" in finding.message


def test_nn105_local_also_registered_directly_is_silent():
    source = (
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.ws = []\n        w = nn.Parameter(torch.zeros(2))\n        self.w0 = w\n        self.ws.append(w)\n"
    )
    assert lint_snippet(source, ["NN105"]).findings == []


def test_nn106_fix_wraps_data_in_parentheses_only_when_needed():
    source = "import torch.nn as nn\n\nw = nn.Parameter(x if c else y).cuda()\nv = nn.Parameter(t[0]).half()\n"
    findings = lint_snippet(source, ["NN106"]).findings
    fixed = apply_edits(source, [e for f in findings for e in f.fix.edits])
    assert fixed == "import torch.nn as nn\n\nw = nn.Parameter((x if c else y).cuda())\nv = nn.Parameter(t[0].half())\n"


def test_nn106_no_data_argument_means_no_fix():
    [finding] = lint_snippet("import torch.nn as nn\n\nw = nn.Parameter().cuda()\n", ["NN106"]).findings
    assert finding.fix is None


def test_nn107_nested_function_in_forward_is_flagged_class_in_forward_is_not():
    source = (
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n"
        "        def head(h):\n            return nn.Linear(8, 2)(h)\n\n"
        "        class Local(nn.Module):\n            def __init__(self):\n                super().__init__()\n"
        "                self.fc = nn.Linear(2, 2)\n                self.extra = nn.Linear(2, 2)\n"
        "        return head(x)\n"
    )
    assert [f.line for f in lint_snippet(source, ["NN107"]).findings] == [6]


def test_nn107_batch_norm_without_affine_still_tracks_statistics():
    source = (
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n"
        "        x = nn.BatchNorm1d(8, affine=False)(x)\n"
        "        return nn.BatchNorm1d(8, affine=False, track_running_stats=False)(x)\n"
    )
    assert [f.line for f in lint_snippet(source, ["NN107"]).findings] == [5]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("foward", True), ("forwad", True), ("farward", True), ("Forward", True), ("forwards", True),
        ("fowrard", True), ("forwrd", True),
        ("forward", False), ("_forward", False), ("forward_", False), ("forward_features", False),
        ("format", False), ("toward", False), ("onward", False), ("reward", False), ("foreword", False),
    ],
)
def test_near_miss_of_forward(name, expected):
    assert near_miss_of_forward(name) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("require_grad", True), ("requires_grads", True), ("required_grad", True), ("requries_grad", True),
        ("requires_gard", True), ("requiresgrad", True), ("requires_grad_", True),
        ("requires_grad", False), ("_requires_grad", False), ("retain_grad", False), ("required", False),
    ],
)
def test_near_miss_of_requires_grad(name, expected):
    assert near_miss_of_requires_grad(name) is expected


def test_nn108_base_that_defines_the_same_hook_is_silent():
    source = (
        "import torch.nn as nn\n\nclass Base(nn.Module):\n    def forward(self, x):\n        return self.forwards(x)\n\n"
        "    def forwards(self, x):\n        raise NotImplementedError\n\nclass Impl(Base):\n    def forwards(self, x):\n        return x\n"
    )
    assert lint_snippet(source, ["NN108"]).findings == []


def test_nn109_typo_that_the_file_reads_back_is_left_alone_but_other_typos_are_not():
    source = (
        "def setup(cfg, model):\n    cfg.require_grad = True\n    if cfg.require_grad:\n        pass\n"
        "    for p in model.parameters():\n        p.requires_grads = False\n"
    )
    assert [f.line for f in lint_snippet(source, ["NN109"]).findings] == [6]


def test_nn110_module_class_from_another_file(tmp_path):
    train = (
        "from .blocks import Block\n\ndef train():\n    model = Block()\n    model.requires_grad = False\n"
        "    model.fc.requires_grad = False\n"
    )
    result = _lint_in_package(tmp_path, {"blocks.py": BLOCK, "train.py": train}, "train.py", "NN110")
    # `model.fc` is a child of a class from another file: nnlint cannot see its attributes.
    assert [f.line for f in result.findings] == [5]
    assert "model.requires_grad_(False)" in result.findings[0].message


def test_nn110_variable_rebound_to_a_tensor_is_silent():
    source = "import torch\nimport torch.nn as nn\n\nm = nn.Linear(2, 2)\nm = torch.zeros(2)\nm.requires_grad = True\n"
    assert lint_snippet(source, ["NN110"]).findings == []


def test_edit_distance_counts_swaps_as_one_edit():
    assert edit_distance("forward", "forward") == 0
    assert edit_distance("froward", "forward") == 1
    assert edit_distance("fwd", "forward") == 4
    assert edit_distance("", "abc") == 3
