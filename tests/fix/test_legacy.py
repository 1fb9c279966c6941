"""NN8xx fixes through the real console script: `--fix` applies the safe ones, `--unsafe-fixes`
the rest, every result compiles, and nothing of the rule's is left to fix."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli

FLAGS = ("--isolated", "--no-cache", "-j", "1", "--select", "NN801,NN802,NN803,NN804,NN805,NN807,NN808")

SOURCE = """\
import torch
import torchvision
from functorch import vmap
from torch import ger
from torch.utils.data._utils.collate import default_collate

scaler = torch.cuda.amp.GradScaler(enabled=True)
backbone = torchvision.models.resnet50(pretrained=True)


def step(model, x, A, a, b, c):
    with torch.cuda.amp.autocast(dtype=torch.bfloat16):
        y = model(x)
    Q, R = torch.qr(A, some=False)
    U = torch.cholesky(A, upper=True)
    M = torch.chain_matmul(a, b, c)
    prod = ger(a, b)
    batch = default_collate([y])
    grid = torch.range(0, 9)
    h = torch.utils.checkpoint.checkpoint(model, x)
    small = torch.exp(x) - 1
    return vmap(model)(x), torch.log(1 + small)
"""

SAFE = """\
import torch
import torchvision
from torch.func import vmap
from torch import outer
from torch.utils.data import default_collate
from torchvision import models

scaler = torch.amp.GradScaler("cuda", enabled=True)
backbone = torchvision.models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V1)


def step(model, x, A, a, b, c):
    with torch.amp.autocast("cuda", dtype=torch.bfloat16):
        y = model(x)
    Q, R = torch.linalg.qr(A, mode="complete")
    U = torch.linalg.cholesky(A).mH
    M = torch.linalg.multi_dot([a, b, c])
    prod = outer(a, b)
    batch = default_collate([y])
    grid = torch.range(0, 9)
    h = torch.utils.checkpoint.checkpoint(model, x)
    small = torch.expm1(x)
    return vmap(model)(x), torch.log1p(small)
"""

UNSAFE = SAFE.replace("torch.range(0, 9)", "torch.arange(0, 10)").replace(
    "checkpoint(model, x)", "checkpoint(model, x, use_reentrant=False)"
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.py"
    path.write_text(text)
    return path


def test_fix_applies_the_safe_rewrites(tmp_path: Path):
    path = _write(tmp_path, SOURCE)
    result = run_cli(*FLAGS, "--fix", str(path))
    assert path.read_text() == SAFE
    compile(SAFE, "train.py", "exec")
    # What is left: the two unsafe fixes (range, checkpoint).
    assert result.code == 1
    remaining = run_cli(*FLAGS, "--output-format", "json", str(path)).json()
    assert sorted(f["code"] for f in remaining) == ["NN802", "NN803"]


def test_unsafe_fixes_apply_the_rest(tmp_path: Path):
    path = _write(tmp_path, SOURCE)
    result = run_cli(*FLAGS, "--fix", "--unsafe-fixes", str(path))
    assert path.read_text() == UNSAFE
    assert result.code == 0, result.out
    compile(UNSAFE, "train.py", "exec")


def test_import_left_alone_when_a_use_cannot_be_rewritten(tmp_path: Path):
    # `ger` is also passed around uncalled: renaming the import to `outer` would break that line.
    source = "from torch import ger\n\nops = [ger]\nz = ger(a, b)\n"
    path = _write(tmp_path, source)
    run_cli(*FLAGS, "--fix", str(path))
    fixed = path.read_text()
    assert fixed == "import torch\nfrom torch import ger\n\nops = [ger]\nz = torch.outer(a, b)\n"
    compile(fixed, "train.py", "exec")


def test_import_left_alone_when_the_new_name_is_taken(tmp_path: Path):
    source = "from torch import ger\n\ndef f(a, b):\n    outer = ger(a, b)\n    return outer\n"
    path = _write(tmp_path, source)
    run_cli(*FLAGS, "--fix", str(path))
    fixed = path.read_text()
    assert fixed == "import torch\nfrom torch import ger\n\ndef f(a, b):\n    outer = torch.outer(a, b)\n    return outer\n"


def test_no_fix_where_the_mapping_does_not_cover_the_call(tmp_path: Path):
    source = "import torch\n\nU = torch.cholesky(A, upper=flag)\nr = torch.range(0, n, step)\nx = torch.solve(b, A)\n"
    path = _write(tmp_path, source)
    result = run_cli(*FLAGS, "--fix", "--unsafe-fixes", str(path))
    assert path.read_text() == source
    assert result.code == 1
    remaining = run_cli(*FLAGS, "--output-format", "json", str(path)).json()
    assert [(f["code"], f["line"], f["fix"]) for f in remaining] == [
        ("NN802", 3, None), ("NN802", 4, None), ("NN801", 5, None)
    ]


def test_singleton_import_and_to_tensor(tmp_path: Path):
    source = "import torch\nimport torchvision.transforms as transforms\nfrom torchvision.transforms import v2\n\nt = v2.ToTensor()\n"
    path = _write(tmp_path, source)
    run_cli(*FLAGS, "--fix", str(path))
    assert path.read_text() == source.replace("import torchvision.transforms as transforms", "from torchvision import transforms")
    run_cli(*FLAGS, "--fix", "--unsafe-fixes", str(path))
    assert path.read_text().endswith("t = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])\n")
