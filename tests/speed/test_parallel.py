"""The process pool: every file once, results in the order of the files, the same as one process."""

from __future__ import annotations

import pytest

from nnlint import runner as runner_module
from nnlint.runner import _chunks

from .conftest import write

TEMPLATE = """\
import torch
import torch.nn as nn
from .base import Base


class Net{n}(Base):
    def __init__(self):
        self.table = torch.zeros({n})
{padding}
"""


def _project(tmp_path, count=12):  # type: ignore[no-untyped-def]
    write(tmp_path / "pkg" / "__init__.py", "")
    files = [write(tmp_path / "pkg" / "base.py", "import torch.nn as nn\nclass Base(nn.Module):\n    pass\n")]
    for n in range(count):
        # Sizes vary so that the pool's largest-first batches differ from the file order.
        padding = "\n".join(f"# padding line {i}" for i in range((n * 7919) % 97))
        files.append(write(tmp_path / "pkg" / f"net_{n:02d}.py", TEMPLATE.format(n=n, padding=padding)))
    return files


@pytest.fixture
def small_batches(monkeypatch):
    # Let a pool start for a few small files.
    monkeypatch.setattr(runner_module, "BYTES_PER_WORKER", 1)
    monkeypatch.setattr(runner_module, "MIN_CHUNK_BYTES", 1)


def test_two_jobs_give_the_same_results_in_the_same_order(runner, tmp_path, small_batches):
    files = _project(tmp_path)
    one = runner(files, jobs=1, use_cache=False)
    two = runner(files, jobs=2, use_cache=False)
    assert [r.path for r in two] == [str(f) for f in files]
    assert two == one
    assert sum(len(r.findings) for r in one) == 2 * 12  # NN102 and NN103 in every Net


def test_workers_fill_the_cache_for_the_next_run(runner, tmp_path, small_batches, monkeypatch):
    files = _project(tmp_path)
    cold = runner(files, jobs=2)

    def no_pool(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("every file should have been answered from the cache")

    monkeypatch.setattr(runner_module, "_lint_in_pool", no_pool)
    warm = runner(files, jobs=2)
    assert runner.linted == [] and runner.warnings == []
    assert warm == cold


def test_batches_cover_every_file_once_largest_first():
    todo = [(i, f"f{i}.py", size) for i, size in enumerate([5, 900_000, 20, 70_000, 3, 400_000] * 5)]
    chunks = _chunks(todo, workers=2)
    flat = [index for chunk in chunks for index, _ in chunk]
    assert sorted(flat) == list(range(len(todo)))
    sizes = [todo[index][2] for index in flat]
    assert sizes == sorted(sizes, reverse=True)
    assert len(chunks[0]) == 1 and len(chunks[-1]) > 1  # big files alone, small ones batched
