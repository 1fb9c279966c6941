"""The NN7xx fixes through the real console script: `--fix` alone leaves the unsafe ones alone,
`--fix --unsafe-fixes` inserts `scaler.unscale_(optimizer)` (NN701) and saves
`model.module.state_dict()` (NN705) in the AMP / DDP fixtures, and the result compiles and has
none of those findings left."""

from __future__ import annotations

import shutil

from tests.conftest import REPO, run_cli

FIXTURES = REPO / "fixtures" / "app" / "amp_ddp"


def _copy(tmp_path):
    for name in ("train_amp.py", "train_ddp.py"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def test_safe_fix_mode_does_not_apply_the_unsafe_nn7xx_fixes(tmp_path):
    work = _copy(tmp_path)
    before = (work / "train_amp.py").read_text()
    result = run_cli("--isolated", "--no-cache", "--select", "NN701,NN705", "--fix", ".", cwd=work)
    assert result.code == 1 and "NN701" in result.out and "NN705" in result.out, result.out + result.err
    assert (work / "train_amp.py").read_text() == before


def test_unsafe_fixes_unscale_before_clipping_and_save_the_unwrapped_model(tmp_path):
    work = _copy(tmp_path)
    result = run_cli("--isolated", "--no-cache", "--select", "NN701,NN705", "--fix", "--unsafe-fixes", ".", cwd=work)
    assert result.code == 0, result.out + result.err
    amp = (work / "train_amp.py").read_text()
    ddp = (work / "train_ddp.py").read_text()
    compile(amp, "train_amp.py", "exec")
    compile(ddp, "train_ddp.py", "exec")
    assert (
        "        scaler.scale(loss).backward()\n"
        "        scaler.unscale_(optimizer)\n"
        "        nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # expect: NN701\n"
    ) in amp
    assert 'torch.save(model.module.state_dict(), f"epoch_{epoch}.pt")  # expect: NN705' in ddp
    again = run_cli("--isolated", "--no-cache", "--select", "NN701,NN705", ".", cwd=work)
    assert again.code == 0, again.out
