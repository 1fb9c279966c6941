"""NN8xx: the deprecation table (data), the torch-version setting, and the rules' behaviour beyond
their VALID/INVALID examples (which tests/rules/test_examples.py runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlint.registry import Registry
from nnlint.rules.legacy._table import DATA, parse_version, table
from nnlint.settings import ConfigError, Settings, settings_from_table
from nnlint.testing import lint_source
from tests.conftest import run_cli

REGISTRY = Registry.with_plugins()


def _lint(source: str, code: str, torch_version: str | None = None) -> list[int]:
    """Lines flagged by ``code``, with the ``torch-version`` setting when given."""
    settings = Settings(torch_version=torch_version) if torch_version is not None else None
    result = lint_source(source, [REGISTRY.load(code)], settings=settings)
    assert not result.errors, result.errors
    return [f.line for f in result.findings]


# -- the table ------------------------------------------------------------------------------


def test_table_entries_are_complete():
    apis = table().apis
    assert apis, f"no entries read from {DATA}"
    for entry in apis.values():
        if entry.status in ("removed", "deprecated"):
            assert entry.deprecated, f"{entry.name}: no `deprecated` version"
        if entry.status == "removed":
            assert entry.removed, f"{entry.name}: no `removed` version"
        if entry.fix != "none":
            assert entry.replacement, f"{entry.name}: a fix needs a replacement"
        if entry.fix == "unsafe":
            assert entry.why, f"{entry.name}: an unsafe fix must say what can change"
        if entry.fix == "none":
            assert entry.advice or entry.replacement, f"{entry.name}: says nothing about what to write instead"
        assert entry.transform in ("", "range-to-arange"), entry.name
        for param in entry.arguments:
            assert param in entry.params, f"{entry.name}: argument mapping for unknown parameter {param!r}"


def test_builders_table_names_weights_under_models():
    builders = table().builders
    assert builders["torchvision.models.resnet50"] == {"pretrained": "models.ResNet50_Weights.IMAGENET1K_V1"}
    # Known under its module too.
    assert builders["torchvision.models.resnet.resnet50"] == builders["torchvision.models.resnet50"]
    for legacy in builders.values():
        for name, weights in legacy.items():
            assert name in ("pretrained", "pretrained_backbone")
            assert weights == "" or weights.startswith("models.")


@pytest.mark.parametrize(("text", "expected"), [("2.4", (2, 4)), ("1.13.1", (1, 13, 1)), ("2.4.1+cu121", (2, 4, 1))])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["latest", "2.x", "", "2.4.1.0"])
def test_parse_version_rejects(text):
    with pytest.raises(ValueError):
        parse_version(text)


# -- the torch-version setting --------------------------------------------------------------

AMP = "import torch\n\nwith torch.cuda.amp.autocast():\n    pass\n"


def test_deprecation_flagged_when_version_unset():
    assert _lint(AMP, "NN802") == [3]


def test_deprecation_not_yet_at_older_torch():
    assert _lint(AMP, "NN802", "2.3") == []


def test_deprecation_flagged_from_its_version():
    assert _lint(AMP, "NN802", "2.4") == [3]


def test_removed_api_flagged_whatever_the_version():
    assert _lint("import torch\n\nx = torch.solve(b, A)\n", "NN801", "1.8") == [3]


def test_checkpoint_silent_before_the_warning():
    source = "from torch.utils.checkpoint import checkpoint\n\ny = checkpoint(f, x)\n"
    assert _lint(source, "NN803", "2.0") == []


def test_checkpoint_flagged_at_current_torch():
    assert _lint("from torch.utils.checkpoint import checkpoint\n\ny = checkpoint(f, x)\n", "NN803") == [3]


def test_the_setting_reaches_the_rules_from_pyproject(tmp_path: Path):
    (tmp_path / "m.py").write_text(AMP)
    assert run_cli("--isolated", "--select", "NN802", "m.py", cwd=tmp_path).code == 1
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN802"]\ntorch-version = "2.3"\n')
    assert run_cli("m.py", cwd=tmp_path).code == 0  # not deprecated yet in 2.3
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN802"]\ntorch-version = "2.4"\n')
    assert run_cli("m.py", cwd=tmp_path).code == 1  # the cache does not answer for the old setting


def test_setting_is_read_and_hashed(tmp_path: Path):
    values = settings_from_table(tmp_path / "pyproject.toml", {"torch-version": "2.4"})
    assert values == {"torch_version": "2.4"}
    assert Settings(**values).fingerprint() != Settings().fingerprint()


@pytest.mark.parametrize("value", [2.4, "latest", "2", ["2.4"]])
def test_setting_rejects_bad_values(tmp_path: Path, value):
    with pytest.raises(ConfigError) as info:
        settings_from_table(tmp_path / "pyproject.toml", {"torch-version": value})
    message = str(info.value)
    assert "torch-version" in message and repr(value) in message and "\n" not in message


def test_bad_setting_is_a_one_line_error_exit_2(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\ntorch-version = "two"\n')
    (tmp_path / "a.py").write_text("import torch\n")
    result = run_cli("--no-cache", "a.py", cwd=tmp_path)
    assert result.code == 2
    assert "torch-version = 'two'" in result.err and len(result.err.strip().splitlines()) == 1


# -- behaviour beyond the examples ----------------------------------------------------------


def test_use_and_import_of_a_from_imported_name_are_both_reported():
    source = "from torch import qr as old_qr\nfrom torch.linalg import qr as new_qr\n\ngood = new_qr(a)\nbad = old_qr(a)\n"
    assert _lint(source, "NN802") == [1, 5]


def test_compat_import_pair_is_silent():
    source = (
        "try:\n    from torch.amp import GradScaler\nexcept ImportError:\n    from torch.cuda.amp import GradScaler\n\n"
        "def make():\n    from torch.amp import GradScaler\n    return GradScaler(enabled=True)\n"
    )
    assert _lint(source, "NN802") == []


def test_messages_say_what_to_write():
    result = lint_source("import torch\n\nQ, R = torch.qr(A, some=False)\n", [REGISTRY.load("NN802")])
    (finding,) = result.findings
    assert "torch.linalg.qr" in finding.message and 'mode="complete"' in finding.message


def test_pretrained_of_other_libraries_is_silent():
    source = "import timm\nfrom transformers import AutoModel\n\nm = timm.create_model('resnet50', pretrained=True)\n"
    assert _lint(source, "NN804") == []
