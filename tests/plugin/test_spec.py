"""ModelSpec and [tool.nnlint.models] validation: every mistake names the file, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_nnlint import CHECK_NAMES, ModelSpec, SpecError, load_model_specs
from pytest_nnlint.spec import ImportedCallable


def inputs(device: object) -> tuple[()]:
    return ()


def test_a_spec_selects_checks_in_canonical_order_and_narrows_devices() -> None:
    spec = ModelSpec("m", factory=object, inputs=inputs, checks=["train-eval", "registration"], devices=["cpu"])
    assert spec.selected_checks == ("registration", "train-eval")
    assert spec.devices_within(("cpu", "cuda")) == ("cpu",)
    assert ModelSpec("m", factory=object, inputs=inputs).selected_checks == CHECK_NAMES
    assert ModelSpec("m", factory=object, inputs=inputs, frozen=["a", "b"]).frozen == ("a", "b")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factory": 3}, "factory must be callable"),
        ({"inputs": 3}, "inputs must be callable"),
        ({"checks": ["devise-transfer"]}, "unknown check 'devise-transfer'"),
        ({"devices": ["gpu"]}, "invalid device 'gpu'"),
        ({"rtol": -1}, "rtol must be a non-negative number"),
        ({"frozen": [1]}, "frozen must be a list of strings"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"seed": "0"}, "seed must be an integer"),
    ],
)
def test_invalid_specs_are_rejected_with_the_field_named(kwargs: dict, message: str) -> None:
    arguments = {"name": "m", "factory": object, "inputs": inputs, **kwargs}
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        ModelSpec(**arguments)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def test_models_load_from_pyproject(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[tool.nnlint]
select = ["NN1"]

[tool.nnlint.models.tiny]
factory = "pkg.models:build"
inputs = "pkg.models:inputs"
loss = "pkg.models:loss"
frozen = ["encoder"]
devices = ["cpu"]
checks = ["registration"]
rtol = 1e-3
atol = 0
seed = 7
""",
    )
    (spec,) = load_model_specs(path)
    assert spec.name == "tiny"
    assert repr(spec.factory) == "pkg.models:build"
    assert repr(spec.loss) == "pkg.models:loss"
    assert (spec.frozen, spec.devices, spec.checks, spec.rtol, spec.atol, spec.seed) == (
        ("encoder",), ("cpu",), ("registration",), 1e-3, 0, 7,
    )


def test_no_models_table_means_no_models(tmp_path: Path) -> None:
    assert load_model_specs(write(tmp_path, "[tool.nnlint]\nselect = ['NN1']\n")) == []


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        ('factroy = "a:b"\ninputs = "a:c"', ["[tool.nnlint.models.m]", "unknown key 'factroy'", "expected one of"]),
        ('inputs = "a:c"', ["[tool.nnlint.models.m]", "missing required key 'factory'"]),
        ('factory = "a:b"\ninputs = "a:c"\nfrozen = "encoder"', ["frozen = 'encoder' is invalid", "a list"]),
        ('factory = "a:b"\ninputs = "a:c"\nrtol = "tight"', ["rtol = 'tight' is invalid", "non-negative number"]),
        ('factory = "a:b"\ninputs = "a:c"\nseed = true', ["seed = True is invalid"]),
        ('factory = "a.b"\ninputs = "a:c"', ["factory: 'a.b' is not a 'package.module:callable' reference"]),
        ('factory = "a:b"\ninputs = "a:c"\ndevices = ["gpu0"]', ["invalid device 'gpu0'"]),
        ('factory = "a:b"\ninputs = "a:c"\nchecks = ["parity", "speed"]', ["unknown check 'speed'"]),
    ],
)
def test_config_errors_name_file_key_and_value(tmp_path: Path, table: str, fragments: list[str]) -> None:
    path = write(tmp_path, f"[tool.nnlint.models.m]\n{table}\n")
    with pytest.raises(SpecError) as error:
        load_model_specs(path)
    message = str(error.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_invalid_toml_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="invalid TOML"):
        load_model_specs(write(tmp_path, "[tool.nnlint.models.m\n"))


def test_models_must_be_a_table_of_tables(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="expected a table"):
        load_model_specs(write(tmp_path, "[tool.nnlint.models]\nm = 3\n"))


def test_imported_callables_resolve_lazily_and_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "nnlint_spec_target.py").write_text("def build():\n    return 42\nVALUE = 3\n")
    where = "pyproject.toml [tool.nnlint.models.m] factory"
    assert ImportedCallable("nnlint_spec_target:build", where, str(tmp_path))() == 42
    with pytest.raises(SpecError, match="cannot import module 'no_such_module_xyz'"):
        ImportedCallable("no_such_module_xyz:build", where, str(tmp_path)).resolve()
    with pytest.raises(SpecError, match="has no attribute 'missing'"):
        ImportedCallable("nnlint_spec_target:missing", where, str(tmp_path)).resolve()
    with pytest.raises(SpecError, match="is not callable"):
        ImportedCallable("nnlint_spec_target:VALUE", where, str(tmp_path)).resolve()
    with pytest.raises(SpecError) as error:
        ImportedCallable("no_such_module_xyz:build", where).resolve()
    assert where in str(error.value)
