"""Interrupting `nnlint --fix` (SIGTERM or SIGINT to the process, mid-run) leaves every file
either as it was or fully fixed, compiling, with no temporary file left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import nnlint_executable
from tests.fix.test_cli import ALL_FIXED, MODEL

FILES = 400


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_fix_run_leaves_every_file_original_or_fixed(tmp_path, signum):
    originals = {}
    for index in range(FILES):
        # Distinct files (the class name differs), so each has its own expected result.
        path = tmp_path / f"model_{index:03d}.py"
        originals[path] = MODEL.replace("Model", f"Model{index}")
        path.write_text(originals[path])
    env = {k: v for k, v in os.environ.items() if k != "NNLINT_CACHE_DIR"}
    process = subprocess.Popen(
        [*nnlint_executable(), "--isolated", "--select", "NN101,NN103,NN301", "--fix", "--unsafe-fixes", "-j", "2", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    # Wait until the run is under way (some file rewritten), then interrupt it.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(path.read_text() != text for path, text in list(originals.items())[:50]):
            break
        time.sleep(0.02)
    interrupted = process.poll() is None
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)

    fixed = 0
    for path, text in originals.items():
        current = path.read_text()
        expected = ALL_FIXED.replace("Model", f"Model{path.stem[-3:].lstrip('0') or '0'}")
        assert current in (text, expected), f"{path.name} is neither original nor fully fixed"
        compile(current, str(path), "exec")
        fixed += current == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in originals)
    assert b"Traceback" not in err, err.decode()
    if process.returncode == 0:
        # The run ended before the signal arrived (it can finish between the poll and the signal,
        # or the signal can land in the interpreter's exit): then it must have fixed everything.
        # A signal swallowed mid-run would leave files unfixed with status 0, and fail here.
        assert fixed == FILES, f"exit status 0 but only {fixed} of {FILES} files fixed"
    else:
        assert interrupted and fixed > 0, "the run was interrupted before it started fixing"
