"""Module-class detection through every import form, class chains, and other files."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import lint_snippet, run_cli

MISSING_INIT = "    def __init__(self):\n        self.x = 1\n"


@pytest.mark.parametrize(
    "header",
    [
        "import torch.nn as nn\nclass M(nn.Module):\n",
        "from torch import nn\nclass M(nn.Module):\n",
        "import torch\nclass M(torch.nn.Module):\n",
        "from torch.nn import Module as Base\nclass M(Base):\n",
        "import torch.nn.modules.module\nclass M(torch.nn.modules.module.Module):\n",
        "from torch.nn.modules.module import Module\nclass M(Module):\n",
        "import torch.nn as nn\nclass M(nn.Linear):\n",
        "from torch import nn as tnn\nclass M(tnn.Conv2d):\n",
        "import torch.nn as nn\nclass A(nn.Module):\n    pass\nclass B(A):\n    pass\nclass M(B):\n",
        "from lightning.pytorch import LightningModule\nclass M(LightningModule):\n",
        "from transformers import PreTrainedModel\nclass M(PreTrainedModel):\n",
        # The import may come after the class (it is resolved when the class is used).
        "class M(nn.Module):\n",
    ],
)
def test_module_classes_are_recognised(header):
    source = header + MISSING_INIT
    if source.startswith("class M(nn.Module)"):
        source += "import torch.nn as nn\n"
    assert [f.code for f in lint_snippet(source, ["NN102"]).findings] == ["NN102"]


@pytest.mark.parametrize(
    "header",
    [
        "class M:\n",
        "class M(object):\n",
        "import torch\nclass M(torch.utils.data.Dataset):\n",
        "import torch.nn as nn\nclass M(nn.Parameter):\n",
        "from torch.nn import functional as F\nclass M(F.Something):\n",
        "from elsewhere import Unknown\nclass M(Unknown):\n",
    ],
)
def test_other_classes_are_not_modules(header):
    assert lint_snippet(header + MISSING_INIT, ["NN102"]).findings == []


def test_cross_file_chain_through_a_package_reexport(tmp_path):
    pkg = tmp_path / "lib"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .core.base import Base\n")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "base.py").write_text("from torch import nn\n\nclass Base(nn.Module):\n    pass\n")
    (tmp_path / "app.py").write_text("from lib import Base\n\nclass Net(Base):\n" + MISSING_INIT)
    (tmp_path / "other.py").write_text("from lib.core.base import Base as B\n\nclass Net2(B):\n" + MISSING_INIT)
    result = run_cli("--isolated", "--select", "NN102", "--output-format", "json", cwd=tmp_path)
    assert sorted((i["path"], i["code"]) for i in result.json()) == [("app.py", "NN102"), ("other.py", "NN102")]


def test_cyclic_imports_and_bases_terminate(tmp_path):
    (tmp_path / "a.py").write_text("from b import B\n\nclass A(B):\n" + MISSING_INIT)
    (tmp_path / "b.py").write_text("from a import A\n\nclass B(A):\n" + MISSING_INIT)
    result = run_cli("--isolated", "--select", "NN102", cwd=tmp_path)
    assert result.code == 0, result.out


def test_extend_module_bases_setting(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\nextend-module-bases = ["vendor.Model"]\n')
    (tmp_path / "m.py").write_text("from vendor import Model\n\nclass Net(Model):\n" + MISSING_INIT)
    result = run_cli("--select", "NN102", "--output-format", "json", cwd=tmp_path)
    assert [i["code"] for i in result.json()] == ["NN102"]


def test_relative_import_resolution():
    from nnlint.semantic import collect_facts
    import libcst as cst

    source = textwrap.dedent(
        """\
        from . import sibling
        from .. import parent_mod
        from .x import Y as Z
        import torch.nn as nn
        import torch.nn
        """
    )
    facts = collect_facts(cst.parse_module(source), "pkg.sub.mod", False)
    assert facts.aliases == {
        "sibling": "pkg.sub.sibling",
        "parent_mod": "pkg.parent_mod",
        "Z": "pkg.sub.x.Y",
        "nn": "torch.nn",
        "torch": "torch",
    }
    package = collect_facts(cst.parse_module("from .x import Y\n"), "pkg.sub", True)
    assert package.aliases == {"Y": "pkg.sub.x.Y"}
