"""Startup imports only what the run needs: a pre-commit hook on one file pays for no process pool,
no report format it does not print and no rule that is not enabled; a run answered entirely from
the cache does not even import LibCST."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import write

# Runs the real CLI and dumps the names of the imported modules. The code fingerprint is pinned so
# that the second run is a cache hit even if nnlint's sources are edited meanwhile.
DRIVER = """
import json, sys
import nnlint.cache
nnlint.cache.code_fingerprint = lambda: "pinned"
from nnlint.cli import main
status = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    import gc
    json.dump({"status": status, "modules": sorted(sys.modules), "gc": gc.get_threshold()}, out)
"""
SOURCE = "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super(Other, self).__init__()\n"


def _run(tmp_path: Path, *args: str) -> dict:
    dump = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", DRIVER, str(dump), *args], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    return json.loads(dump.read_text())


def _imported(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    data = _run(tmp_path, *args)
    return data["status"], set(data["modules"])


def test_one_file_imports_no_pool_no_other_format_and_no_other_rule(tmp_path):
    net = write(tmp_path / "net.py", SOURCE)
    status, modules = _imported(tmp_path, "--isolated", "--no-cache", "--select", "NN101", str(net))
    assert status == 1  # the finding was reported
    assert not {"multiprocessing", "concurrent.futures"} & modules
    formats = {m for m in modules if m.startswith("nnlint.report.")}
    assert formats <= {"nnlint.report.text"}
    rule_modules = {m for m in modules if m.startswith("nnlint.rules.") and m.count(".") >= 3}
    assert rule_modules == {"nnlint.rules.module.super_wrong_class"}
    # No rule pack is installed here: looking for one reads entry_points.txt files, and neither
    # the plugin manager nor importlib.metadata (with its email/zipfile imports) is loaded.
    assert not {"pluggy", "importlib.metadata", "nnlint.plugins", "tomllib"} & modules


def test_a_run_answered_from_the_cache_does_not_import_libcst(tmp_path):
    net = write(tmp_path / "net.py", SOURCE)
    args = ("--isolated", "--select", "NN101", "--cache-dir", str(tmp_path / "cache"), str(net))
    first_status, first = _imported(tmp_path, *args)
    assert "libcst" in first
    status, modules = _imported(tmp_path, *args)
    assert status == first_status == 1
    assert "libcst" not in modules, sorted(m for m in modules if m.startswith("nnlint"))


def test_the_command_line_collects_garbage_rarely_and_the_api_does_not(tmp_path):
    import gc

    from nnlint.api import check_source

    net = write(tmp_path / "net.py", SOURCE)
    assert _run(tmp_path, "--isolated", "--no-cache", str(net))["gc"] == [200_000, 30, 30]
    before = gc.get_threshold()
    check_source(SOURCE, "net.py")
    assert gc.get_threshold() == before
