"""The fixtures and the marker: single checks inside the user's own tests."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import RUNTIME_FIXTURES, run

HEADER = f"""
import sys
sys.path.insert(0, {str(RUNTIME_FIXTURES)!r})
import pytest
import torch
import clean_cnn, nn104_module_list
from pytest_nnlint import ModelSpec

CLEAN = ModelSpec("clean", factory=clean_cnn.build, inputs=clean_cnn.inputs)
LISTY = ModelSpec("listy", factory=nn104_module_list.build, inputs=nn104_module_list.inputs)
"""


def test_the_marker_feeds_the_fixtures_on_every_device(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.nnlint_model(CLEAN)
def test_model_and_inputs(nn_model, nn_inputs, nn_device):
    assert all(p.device.type == nn_device.type for p in nn_model.parameters())
    output = nn_model(*nn_inputs)
    assert output.shape == (4, 4) and output.device.type == nn_device.type

@pytest.mark.nnlint_model(CLEAN)
def test_single_checks(nn_check):
    result = nn_check.device_transfer()
    assert result.check == "device-transfer"
    nn_check.registration()
    nn_check.train_eval(CLEAN)

@pytest.mark.nnlint_model(LISTY)
def test_a_failing_check(nn_check):
    nn_check.registration()
"""
    )
    result = run(pytester, "-v", "--nnlint-devices=cpu", "--strict-markers")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_model_and_inputs[[]cpu[]] PASSED*", "*test_single_checks[[]cpu[]] PASSED*"])
    result.stdout.fnmatch_lines(
        ["nnlint registration check failed for model 'listy' on cpu:", "  - blocks[[]0[]]: Linear held in a plain list*"]
    )
    assert "def test_a_failing_check" not in result.stdout.str()  # the message, not a traceback


def test_cuda_parameters_skip_with_a_reason_without_cuda(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.nnlint_model(CLEAN)
def test_transfer(nn_check):
    nn_check.device_transfer()
"""
    )
    # Default devices: the cuda parameter is left out, said once after the run.
    result = run(pytester, "-rs", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_transfer[[]cpu[]] PASSED*"])
    result.stdout.fnmatch_lines(["nnlint: CUDA is not available (torch.cuda.is_available() is False): 1 item(s) on cuda not collected*"])
    # Asked for explicitly: the parameter is there, and skips with the reason.
    result = run(pytester, "-rs", "-v", "--nnlint-devices=cpu,cuda")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_transfer[[]cpu[]] PASSED*", "*test_transfer[[]cuda[]] SKIPPED*"])
    result.stdout.fnmatch_lines(["SKIPPED*CUDA is not available (torch.cuda.is_available() is False)*"])


def test_the_spec_narrows_devices_and_parity_skips_on_cpu(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
CPU_ONLY = ModelSpec("cpu-only", factory=clean_cnn.build, inputs=clean_cnn.inputs, devices=["cpu"])

@pytest.mark.nnlint_model(CPU_ONLY)
def test_narrowed(nn_device):
    assert nn_device.type == "cpu"

@pytest.mark.nnlint_model(CLEAN)
def test_parity_on_cpu(nn_check):
    nn_check.parity()
"""
    )
    result = run(pytester, "-rs", "-v", "--nnlint-devices=cpu")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*parity: parity compares CPU with an accelerator; it does not run on cpu*"])


def test_all_checks_at_once_and_the_nn_spec_fixture_override(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        HEADER
        + """
@pytest.fixture(params=[CLEAN, LISTY], ids=["clean", "listy"])
def nn_spec(request):
    return request.param
"""
    )
    pytester.makepyfile(
        """
def test_everything(nn_check):
    nn_check.all()
"""
    )
    result = run(pytester, "-v", "--nnlint-devices=cpu")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_everything[[]clean-cpu[]] PASSED*", "*test_everything[[]listy-cpu[]] FAILED*"])
    text = result.stdout.str()
    for check in ("registration", "device-transfer", "state-dict-roundtrip", "train-eval"):
        assert f"nnlint {check} check failed for model 'listy' on cpu" in text


def test_a_missing_spec_is_explained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_no_spec(nn_check):\n    nn_check.registration()\n")
    result = run(pytester, "--nnlint-devices=cpu")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no model for nn_spec: mark the test with @pytest.mark.nnlint_model(spec)*"])


def test_a_misused_marker_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.nnlint_model("clean")
def test_bad_marker(nn_device):
    pass
"""
    )
    result = run(pytester, "--nnlint-devices=cpu")
    result.stdout.fnmatch_lines(["*use @pytest.mark.nnlint_model(spec) with one pytest_nnlint.ModelSpec*"])
    assert result.ret != 0


def test_a_broken_factory_fails_the_fixture_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
def broken():
    raise ValueError("no weights")

@pytest.mark.nnlint_model(ModelSpec("broken", factory=broken, inputs=clean_cnn.inputs))
def test_uses_model(nn_model):
    pass
"""
    )
    result = run(pytester, "--nnlint-devices=cpu")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the factory*broken raised ValueError: no weights*"])
