"""Module classes of well-known libraries: the generated table (nnlint/library.py), the class
hierarchy's use of it, packages resolved from site-packages, and the table's generator."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nnlint.project as project
from nnlint.library import DATA, LIBRARIES, LibraryClass, library_class, parse_table
from nnlint.names import is_torch_module_name
from nnlint.project import ClassHierarchy, find_module_file, summarise_source

from .conftest import lint_snippet
from .speed.conftest import Runner, codes, write

REPO = Path(__file__).resolve().parent.parent


# -- the table ---------------------------------------------------------------------------------


def test_the_table_has_a_section_for_each_library_and_names_the_versions():
    text = DATA.read_text(encoding="utf-8")
    sections = {line[1:-1] for line in text.splitlines() if line.startswith("[")}
    assert sections == LIBRARIES
    header = text.splitlines()[2]
    for name in ("torch ", "torchvision ", "timm ", "transformers ", "diffusers ", "lightning "):
        assert name in header
    assert len(text.encode()) < 400_000  # one line per class keeps it small


@pytest.mark.parametrize(
    ("qualname", "mode", "argument"),
    [
        ("torch.nn.Dropout", "argument", ("p", 0, 0.5)),
        ("torch.nn.modules.dropout.Dropout", "argument", ("p", 0, 0.5)),
        ("torch.nn.BatchNorm2d", "argument", ("track_running_stats", 4, True)),
        ("torch.nn.InstanceNorm2d", "argument", ("track_running_stats", 4, False)),
        ("torch.nn.LSTM", "argument", ("dropout", 5, 0.0)),
        ("torch.nn.TransformerEncoderLayer", "argument", ("dropout", 3, 0.1)),
        ("torch.nn.MultiheadAttention", "argument", ("dropout", 2, 0.0)),
        ("torch.nn.RReLU", "sensitive", None),
        ("torch.nn.Linear", "insensitive", None),
        ("torch.nn.ReLU", "insensitive", None),
        ("torch.nn.LayerNorm", "insensitive", None),
        ("torch.nn.Embedding", "insensitive", None),
        ("torch.nn.CrossEntropyLoss", "insensitive", None),
        ("torch.nn.Sequential", "container", None),
        ("torch.nn.ModuleList", "container", None),
        ("torch.nn.ModuleDict", "container", None),
        ("torch.nn.Module", "container", None),
        ("torch.nn.DataParallel", "container", None),
        ("torch.nn.parallel.DistributedDataParallel", "container", None),
    ],
)
def test_torch_classes_and_how_they_behave_in_eval_mode(qualname, mode, argument):
    found = library_class(qualname)
    assert found is not None
    assert (found.mode, found.argument) == (mode, argument)


@pytest.mark.parametrize(
    ("qualname", "defined_in"),
    [
        ("torchvision.models.ResNet", "torchvision.models.resnet.ResNet"),
        ("torchvision.models.resnet.ResNet", "torchvision.models.resnet.ResNet"),
        ("timm.models.ResNet", "timm.models.resnet.ResNet"),
        ("timm.models.resnet.ResNet", "timm.models.resnet.ResNet"),
        ("transformers.BertModel", "transformers.models.bert.modeling_bert.BertModel"),
        ("transformers.models.bert.BertModel", "transformers.models.bert.modeling_bert.BertModel"),
        ("transformers.PreTrainedModel", "transformers.modeling_utils.PreTrainedModel"),
        ("diffusers.UNet2DConditionModel", "diffusers.models.unets.unet_2d_condition.UNet2DConditionModel"),
        ("diffusers.ModelMixin", "diffusers.models.modeling_utils.ModelMixin"),
        ("lightning.LightningModule", "lightning.pytorch.core.module.LightningModule"),
        ("lightning.pytorch.LightningModule", "lightning.pytorch.core.module.LightningModule"),
        ("pytorch_lightning.LightningModule", "pytorch_lightning.core.module.LightningModule"),
    ],
)
def test_library_model_classes_under_every_name_users_import(qualname, defined_in):
    found = library_class(qualname)
    assert found == LibraryClass(defined_in, "sensitive")


def test_names_that_are_not_library_module_classes():
    for name in ("torch.nn.Parameter", "torch.nn.functional.relu", "torchvision.models.resnet18",
                 "transformers.BertConfig", "transformers.Trainer", "mypkg.Net", "numpy.ndarray"):
        assert library_class(name) is None, name
    # A plain transform holds no layers: the cheap source check calls it insensitive.
    assert library_class("torchvision.transforms.Normalize").mode == "insensitive"


def test_the_class_hierarchy_knows_table_classes_and_future_torch_layers():
    for name in ("torchvision.models.ResNet", "transformers.BertModel", "lightning.LightningModule",
                 "torch.nn.modules.batchnorm._BatchNorm", "torch.nn.FancyLayerOfTorch3"):
        assert is_torch_module_name(name), name
    hierarchy = ClassHierarchy(lambda *a: None)
    assert hierarchy.is_module_class("m.MyNet", ("torchvision.models.ResNet",))
    assert hierarchy.is_module_class("m.Tuned", ("transformers.models.bert.modeling_bert.BertModel",))
    assert not hierarchy.is_module_class("m.Cfg", ("transformers.BertConfig",))


def test_the_parser_reads_every_token_kind():
    text = textwrap.dedent(
        """\
        # comment
        [pkg]
        pkg.sub.mod
         A
         B i 1 2 other.place.Alias
         C arg:rate:-:0.25
        """
    )
    table = parse_table(text)
    assert table["pkg.sub.mod.A"] == LibraryClass("pkg.sub.mod.A", "sensitive")
    b = LibraryClass("pkg.sub.mod.B", "insensitive")
    assert table["pkg.sub.B"] == table["pkg.B"] == table["other.place.Alias"] == b
    assert table["pkg.sub.mod.C"] == LibraryClass("pkg.sub.mod.C", "argument", ("rate", None, 0.25))


def test_importing_the_module_reads_no_table_and_a_cached_run_does_not_import_it(tmp_path):
    probe = "import nnlint.library as l, sys; print(l._text is None and not l._tables)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"

    from .speed.test_startup import _imported

    net = write(tmp_path / "net.py", "import torchvision\n\nclass Net(torchvision.models.ResNet):\n    def __init__(self):\n        self.x = 1\n")
    args = ("--isolated", "--select", "NN102", "--cache-dir", str(tmp_path / "cache"), str(net))
    first_status, first = _imported(tmp_path, *args)
    assert first_status == 1 and "nnlint.library" in first  # the base came from the table
    status, modules = _imported(tmp_path, *args)
    assert status == 1
    assert "nnlint.library" not in modules


# -- rules see library base classes --------------------------------------------------------------


def test_module_rules_apply_to_subclasses_of_library_models():
    source = textwrap.dedent(
        """\
        import torch
        import torchvision

        class MyNet(torchvision.models.ResNet):
            def __init__(self):
                self.w = torch.randn(3)

        from transformers import BertModel

        class Tuned(BertModel):
            def __init__(self, config):
                super().__init__(config)
                self.mask = torch.ones(4)
        """
    )
    result = lint_snippet(source, ["NN102", "NN103"])
    assert sorted((f.code, f.line) for f in result.findings) == [("NN102", 5), ("NN103", 6), ("NN103", 13)]


# -- packages installed where nnlint runs ----------------------------------------------------------


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fake site-packages directory with one installed package, `fakelib`."""
    directory = tmp_path / "site-packages"
    write(directory / "fakelib" / "__init__.py", "from .layers import Block\n")
    write(directory / "fakelib" / "layers.py", "import torch.nn as nn\n\nclass Block(nn.Module):\n    pass\n")
    monkeypatch.setattr(project, "_site_directories", lambda: ((directory,), {}))
    return directory


def _reading_hierarchy(*roots: Path, site_packages: bool = True) -> ClassHierarchy:
    def summarise(path, module, is_package):  # type: ignore[no-untyped-def]
        return summarise_source(path.read_text(), module, is_package)

    return ClassHierarchy(summarise, roots, site_packages=site_packages)


def test_a_base_from_an_installed_package_is_resolved_there(site, tmp_path):
    project_root = tmp_path / "project"
    write(project_root / "app" / "__init__.py", "")
    hierarchy = _reading_hierarchy(project_root)
    hierarchy.begin_file("app.net", str(project_root / "app" / "net.py"))
    assert hierarchy.is_module_class("app.net.Net", ("fakelib.Block",))
    consulted = hierarchy.consulted()
    assert consulted["fakelib"] == str(site / "fakelib" / "__init__.py")
    assert consulted["fakelib.layers"] == str(site / "fakelib" / "layers.py")
    # The cache's dependency check finds the same files.
    assert find_module_file("fakelib.layers", [project_root]) == (site / "fakelib" / "layers.py", False)
    # Without site-packages (the table's generator) it stays unknown.
    assert not _reading_hierarchy(project_root, site_packages=False).is_module_class("app.net.Net", ("fakelib.Block",))


def test_the_project_own_packages_are_never_completed_from_site_packages(site, tmp_path):
    project_root = tmp_path / "project"
    write(project_root / "fakelib" / "__init__.py", "class Block:\n    pass\n")
    hierarchy = _reading_hierarchy(project_root)
    assert not hierarchy.is_module_class("m.Net", ("fakelib.Block",))
    assert not hierarchy.is_module_class("m.Net", ("fakelib.layers.Block",))
    assert find_module_file("fakelib.layers", [project_root]) is None
    assert find_module_file("fakelib.layers", [project_root], site=False) is None


def test_results_that_depend_on_an_installed_package_are_cached_and_invalidated(site, tmp_path, monkeypatch):
    net = write(tmp_path / "work" / "net.py", "import fakelib\n\nclass Net(fakelib.Block):\n    def __init__(self):\n        self.x = 1\n")
    runner = Runner(tmp_path / "work", monkeypatch)
    assert codes(runner([net])) == [("net.py", "NN102", 4)]
    assert runner.linted == ["net.py"]
    assert codes(runner([net])) == [("net.py", "NN102", 4)]
    assert runner.linted == []  # answered from the cache: the site-packages files are unchanged
    write(site / "fakelib" / "layers.py", "class Block:\n    pass\n")  # the package is upgraded
    assert codes(runner([net])) == []
    assert runner.linted == ["net.py"]


def test_site_directories_of_the_running_interpreter():
    import sysconfig

    roots = project.site_roots()
    assert Path(sysconfig.get_paths()["purelib"]) in roots
    assert all(root.is_dir() for root in roots)


# -- the generator ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("gen_library_modules", REPO / "scripts" / "gen_library_modules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the torch probe's worker finds its functions by module name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


FAKE_LIBRARY = {
    "fakevision-1.2.dist-info/METADATA": "Metadata-Version: 2.1\nName: fakevision\nVersion: 1.2\n\nreadme\n",
    "fakevision/__init__.py": "from .models import *\nfrom . import ops\nfrom .config import Config\n",
    "fakevision/config.py": "class Config:\n    pass\n",
    "fakevision/models/__init__.py": "from .resnet import *\nfrom .vit import VisionTransformer as ViT\n",
    "fakevision/models/resnet.py": (
        "from torch import nn\nfrom ..ops.misc import Conv2dNormActivation\n\n__all__ = ['ResNet', 'resnet18']\n\n"
        "class Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.bn = nn.BatchNorm2d(4)\n\n"
        "class ResNet(nn.Module):\n    pass\n\nclass _Private(ResNet):\n    pass\n\ndef resnet18():\n    return ResNet()\n"
    ),
    "fakevision/models/vit.py": "import torch\n\nclass VisionTransformer(torch.nn.Module):\n    pass\n",
    "fakevision/ops/__init__.py": "from .misc import Conv2dNormActivation, Permute\n",
    "fakevision/ops/misc.py": (
        "import torch\n\nclass Permute(torch.nn.Module):\n    def __init__(self, dims):\n        super().__init__()\n"
        "        self.dims = list(dims)\n\nclass Conv2dNormActivation(torch.nn.Sequential):\n    pass\n"
    ),
    # Not a package of the library's (no __init__.py): ignored.
    "fakevision/scripts/tool.py": "import torch\nclass Tool(torch.nn.Module):\n    pass\n",
}


def test_the_generator_reads_a_library_tree_without_importing_it(generator, tmp_path):
    for name, text in FAKE_LIBRARY.items():
        write(tmp_path / name, text)
    text = generator.generate(tmp_path, with_torch=False)
    assert generator.generate(tmp_path, with_torch=False) == text  # deterministic
    assert "# From: fakevision 1.2" in text
    table = parse_table(text)
    resnet = LibraryClass("fakevision.models.resnet.ResNet", "insensitive")  # holds nothing
    assert table["fakevision.models.ResNet"] == table["fakevision.ResNet"] == resnet
    assert table["fakevision.models.resnet.ResNet"] == resnet
    # A module with `__all__` publishes what it lists there, no more (transformers' internal
    # layers stay out of the table; where transformers is installed they are read from it).
    assert "fakevision.models.resnet.Block" not in table and "fakevision.models.Block" not in table
    assert table["fakevision.models.ViT"].qualname == "fakevision.models.vit.VisionTransformer"
    assert table["fakevision.ops.Permute"] == LibraryClass("fakevision.ops.misc.Permute", "insensitive")
    assert table["fakevision.ops.Conv2dNormActivation"].mode == "sensitive"  # a Sequential: unknown contents
    # Imported by resnet.py for its own use: not an export of that module.
    assert "fakevision.models.resnet.Conv2dNormActivation" not in table
    for absent in ("fakevision.Config", "fakevision.models.resnet18", "fakevision.scripts.tool.Tool"):
        assert absent not in table
    assert "fakevision.models.resnet._Private" not in table
    # A module without `__all__` publishes the public classes it defines.
    more = (
        "class _Hidden(torch.nn.Module):\n    pass\n\n"
        "class Head(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.drop = torch.nn.Dropout(0.1)\n"
    )
    write(tmp_path / "fakevision" / "models" / "vit.py", FAKE_LIBRARY["fakevision/models/vit.py"] + more)
    table = parse_table(generator.generate(tmp_path, with_torch=False))
    assert table["fakevision.models.vit.Head"] == LibraryClass("fakevision.models.vit.Head", "sensitive")
    assert "fakevision.models.vit._Hidden" not in table


def test_the_generator_observes_torch_modes(generator):
    import torch.nn as nn

    modes = generator._TorchModes()
    assert modes.mode(nn.Dropout) == "arg:p:0:0.5"
    assert modes.mode(nn.BatchNorm1d) == "arg:track_running_stats:4:True"
    assert modes.mode(nn.Linear) == "i"
    assert modes.mode(nn.RReLU) == "s"
    assert modes.mode(nn.Sequential) == "c"
    assert modes.mode(nn.TransformerEncoder) == "c"
    entries = generator.torch_entries(packages=(), modules=("torch.nn.modules.dropout",))
    assert entries["torch.nn.modules.dropout.Dropout"].mode == "arg:p:0:0.5"
