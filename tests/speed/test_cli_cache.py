"""Where the cache lives, through the real console script: beside the closest pyproject.toml,
``--cache-dir``, ``NNLINT_CACHE_DIR``, ``--no-cache``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import nnlint_executable

from .conftest import write

SOURCE = "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super(Other, self).__init__()\n"


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "NNLINT_CACHE_DIR"}
    full_env.update(env or {})
    return subprocess.run([*nnlint_executable(), "--select", "NN101", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def _has_results(cache_dir: Path) -> bool:
    return (cache_dir / "CACHEDIR.TAG").is_file() and any(cache_dir.rglob("results-*/*.json"))


def test_the_cache_goes_beside_the_closest_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", "[project]\nname = 'demo'\n")
    write(tmp_path / "src" / "net.py", SOURCE)
    result = _run(tmp_path / "src", "net.py")
    assert result.returncode == 1, result.stderr
    assert _has_results(tmp_path / ".nnlint_cache")
    assert not (tmp_path / "src" / ".nnlint_cache").exists()
    assert _run(tmp_path / "src", "net.py").stdout == result.stdout


def test_cache_dir_flag_beats_the_environment_which_beats_the_default(tmp_path):
    write(tmp_path / "net.py", SOURCE)
    _run(tmp_path, "net.py", env={"NNLINT_CACHE_DIR": str(tmp_path / "from-env")})
    assert _has_results(tmp_path / "from-env")
    _run(tmp_path, "--cache-dir", "from-flag", "net.py", env={"NNLINT_CACHE_DIR": str(tmp_path / "unused")})
    assert _has_results(tmp_path / "from-flag") and not (tmp_path / "unused").exists()
    assert not (tmp_path / ".nnlint_cache").exists()


def test_no_cache_writes_nothing(tmp_path):
    write(tmp_path / "net.py", SOURCE)
    result = _run(tmp_path, "--no-cache", "net.py")
    assert result.returncode == 1 and "NN101" in result.stdout
    assert not (tmp_path / ".nnlint_cache").exists()


def test_an_unusable_cache_is_a_warning_not_an_error(tmp_path):
    write(tmp_path / "net.py", SOURCE)
    write(tmp_path / "blocked", "a file where the cache directory would go\n")
    result = _run(tmp_path, "--cache-dir", "blocked", "net.py")
    assert result.returncode == 1 and "NN101" in result.stdout
    assert "warning: cannot write the cache" in result.stderr
