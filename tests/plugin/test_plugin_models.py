"""Models described in pyproject.toml (or contributed by the hook) become test items
`NAME::CHECK[DEVICE]`, with no test file."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import (
    DEVICES,
    FIXTURE_NAMES,
    RUNTIME_FIXTURES,
    expected_failures,
    load_fixture,
    models_pyproject,
    run,
    run_subprocess,
)


@pytest.mark.parametrize("device", DEVICES)
def test_every_fixture_through_pytest(pytester: pytest.Pytester, device: str) -> None:
    """One run with every runtime fixture configured: each item passes or fails as the fixture
    declares, and each failure shows the path and the rule, not a traceback."""
    pytester.makepyprojecttoml(models_pyproject(FIXTURE_NAMES))
    recorder = pytester.inline_run("-p", "no:hypothesispytest", f"--nnlint-devices={device}")
    reports = {r.nodeid: r for r in recorder.getreports("pytest_runtest_logreport") if r.when == "call"}
    expected_count = 0
    for name in FIXTURE_NAMES:
        failing = expected_failures(load_fixture(name), device)
        checks = ["registration", "device-transfer", "freezing", "grad-flow", "state-dict-roundtrip", "train-eval"]
        for check in checks + (["parity"] if device != "cpu" else []):
            expected_count += 1
            report = reports[f"pyproject.toml::{name}::{check}[{device}]"]
            if check in failing:
                assert report.failed, f"{name}::{check} should fail"
                text = report.longreprtext
                assert text.startswith(f"nnlint {check} check failed for model '{name}' on {device}")
                assert "Traceback" not in text and "pytest_nnlint/" not in text
                for fragment in failing[check]:
                    assert fragment in text, f"{name}::{check}: {fragment!r} not in\n{text}"
            else:
                assert report.passed, f"{name}::{check} should pass:\n{report.longreprtext}"
    assert len(reports) == expected_count


def test_items_are_named_model_check_device(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(models_pyproject(["clean_cnn"]))
    result = run(pytester, "--collect-only", "-q", "--nnlint-devices=cpu,cuda")
    result.stdout.fnmatch_lines(
        [
            "pyproject.toml::clean_cnn::registration[[]cpu[]]",
            "pyproject.toml::clean_cnn::registration[[]cuda[]]",
            "pyproject.toml::clean_cnn::device-transfer[[]cpu[]]",
            "*",
        ]
    )
    lines = result.stdout.lines
    assert "pyproject.toml::clean_cnn::parity[cuda]" in lines
    assert "pyproject.toml::clean_cnn::parity[cpu]" not in lines
    assert sum(line.startswith("pyproject.toml::") for line in lines) == 6 * 2 + 1


def test_cuda_items_skip_with_a_reason_without_cuda(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pytester.makepyprojecttoml(models_pyproject(["clean_cnn"], checks=["registration", "parity"]))
    # Default devices: CUDA's absence is one line after the run, not one skip per item.
    result = run(pytester, "-rs")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["nnlint: CUDA is not available (torch.cuda.is_available() is False): 2 item(s) on cuda not collected*"]
    )
    assert "SKIPPED" not in result.stdout.str()
    # Asked for by name: the items are there and skip with the reason.
    result = run(pytester, "-rs", "--nnlint-devices=cpu,cuda")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] pyproject.toml:*: CUDA is not available (torch.cuda.is_available() is False)"])


def test_model_options_narrow_checks_and_devices(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        f"""
[tool.pytest.ini_options]
pythonpath = ["{RUNTIME_FIXTURES}"]
[tool.nnlint.models.tiny]
factory = "clean_cnn:build"
inputs = "clean_cnn:inputs"
checks = ["train-eval", "registration"]
devices = ["cpu"]
"""
    )
    result = run(pytester, "--collect-only", "-q")
    assert [line for line in result.stdout.lines if "::" in line] == [
        "pyproject.toml::tiny::registration[cpu]",
        "pyproject.toml::tiny::train-eval[cpu]",
    ]


def test_a_config_error_names_the_file_the_key_and_the_value(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.nnlint.models.tiny]\nfactory = "m:build"\ninputs = "m:inputs"\nfrozn = ["a"]\n')
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # before anything runs
    message = "*pyproject.toml [[]tool.nnlint.models.tiny[]]: unknown key 'frozn' (expected one of: factory, args, kwargs, inputs*"
    result.stderr.fnmatch_lines([message])
    assert sum("unknown key 'frozn'" in line for line in result.stderr.lines + result.stdout.lines) == 1
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "test_other" not in result.stdout.str()


def test_an_unimportable_factory_is_one_error_before_anything_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[tool.nnlint.models.tiny]\nfactory = "no_such_pkg.models:build"\ninputs = "m:inputs"\ndevices = ["cpu"]\n'
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*[[]tool.nnlint.models.tiny[]] factory: cannot import module 'no_such_pkg.models'*ModuleNotFoundError*"]
    )
    assert sum("no_such_pkg" in line for line in result.stderr.lines + result.stdout.lines) == 1


def test_explicit_paths_leave_models_out_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(models_pyproject(["clean_cnn"]))
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    with_args = run(pytester, "--nnlint-devices=cpu", "test_own.py")
    with_args.assert_outcomes(passed=1)
    asked = run(pytester, "--nnlint-devices=cpu", "--nnlint-models", "test_own.py")
    asked.assert_outcomes(passed=7)
    default = run(pytester, "--nnlint-devices=cpu")
    default.assert_outcomes(passed=7)
    as_file = run(pytester, "--nnlint-devices=cpu", "pyproject.toml")
    as_file.assert_outcomes(passed=6)
    one = run(pytester, "--nnlint-devices=cpu", "pyproject.toml::clean_cnn::grad-flow[cpu]")
    one.assert_outcomes(passed=1)
    keyword = run(pytester, "--nnlint-devices=cpu", "-k", "freezing or own")
    keyword.assert_outcomes(passed=2)
    marker = run(pytester, "--nnlint-devices=cpu", "-m", "not nnlint")
    marker.assert_outcomes(passed=1)


def test_a_conftest_contributes_models_through_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        f"""
        import sys
        sys.path.insert(0, {str(RUNTIME_FIXTURES)!r})
        import clean_cnn, nn104_module_list
        from pytest_nnlint import ModelSpec

        def pytest_nnlint_model_specs(config):
            return [
                ModelSpec("hooked", factory=clean_cnn.build, inputs=clean_cnn.inputs, checks=["registration"]),
                ModelSpec("listy", factory=nn104_module_list.build, inputs=nn104_module_list.inputs,
                          checks=["registration"]),
            ]
        """
    )
    result = run(pytester, "--nnlint-devices=cpu", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*::hooked::registration[[]cpu[]] PASSED*", "*::listy::registration[[]cpu[]] FAILED*"])
    result.stdout.fnmatch_lines(["*blocks[[]0[]]: Linear held in a plain list*NN104 module-in-python-container*"])


def test_model_names_must_be_unique(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(models_pyproject(["clean_cnn"]))
    pytester.makeconftest(
        f"""
        import sys
        sys.path.insert(0, {str(RUNTIME_FIXTURES)!r})
        import clean_cnn
        from pytest_nnlint import ModelSpec

        def pytest_nnlint_model_specs(config):
            return [ModelSpec("clean_cnn", factory=clean_cnn.build, inputs=clean_cnn.inputs)]
        """
    )
    result = run(pytester, "--nnlint-devices=cpu")
    result.stdout.fnmatch_lines(["*two models are named 'clean_cnn'*"])
    assert result.ret != 0


def test_parts_that_could_not_run_are_listed_after_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        nonzero_model="""
        import torch
        from torch import nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = nn.Linear(3, 2)

            def forward(self, x):
                return self.linear(x[x.sum(-1) > 0])  # data-dependent shape: no meta kernel

        def inputs(device):
            return torch.randn(4, 3, device=device)
        """
    )
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\npythonpath = ["."]\n'
        '[tool.nnlint.models.nz]\nfactory = "nonzero_model:Model"\ninputs = "nonzero_model:inputs"\n'
        'checks = ["device-transfer"]\n'
    )
    result = run(pytester, "--nnlint-devices=cpu")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*nnlint notes*", "nz: skipped the forward pass on the meta device:*"]
    )


def test_an_invalid_device_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--nnlint-devices=cpu,tpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--nnlint-devices: invalid device 'tpu'*"])


def test_models_run_under_xdist(pytester: pytest.Pytester) -> None:
    checks = ["registration", "device-transfer", "grad-flow"]
    pytester.makepyprojecttoml(models_pyproject(["clean_cnn", "nn103_tensor_attribute"], checks=checks))
    result = run_subprocess(pytester, "-n", "2", "--nnlint-devices=cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["*encoder.offset*NN103 tensor-attribute-not-registered*"])
