"""The plain check functions, without pytest machinery: every runtime fixture gives exactly the
failures it declares; edge cases give clear failures or skips, never internal errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_nnlint import CHECK_NAMES, CheckFailure, CheckSkipped, ModelSpec, checks, run_all
from tests.plugin.conftest import DEVICES, FIXTURE_NAMES, expected_failures, load_fixture


def spec_for(name: str, **overrides: Any) -> ModelSpec:
    module = load_fixture(name)
    fields = {"factory": module.build, "inputs": module.inputs, "frozen": getattr(module, "FROZEN", ())}
    return ModelSpec(name, **{**fields, **overrides})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_each_fixture_fails_exactly_the_checks_it_declares(name: str, device: str) -> None:
    expected = expected_failures(load_fixture(name), device)
    outcomes = {outcome.check: outcome for outcome in run_all(spec_for(name), devices=[device])}
    assert ("parity" in outcomes) == (device != "cpu")
    for check, outcome in outcomes.items():
        if check in expected:
            assert outcome.status == "failed", f"{check} should fail on {name}: {outcome.message}"
            for fragment in expected[check]:
                assert fragment in outcome.message, f"{check} on {name}: {fragment!r} not in\n{outcome.message}"
        else:
            assert outcome.status == "passed", f"{check} should pass on {name}: {outcome.message}"


def test_a_failure_is_an_assertion_error_naming_check_model_device_path_and_rule() -> None:
    with pytest.raises(AssertionError) as error:
        checks.registration(spec_for("nn104_module_list"), "cpu")
    assert isinstance(error.value, CheckFailure)
    message = str(error.value)
    assert message.startswith("nnlint registration check failed for model 'nn104_module_list' on cpu:")
    assert "  - blocks[1]: Linear held in a plain list" in message
    assert "[NN104 module-in-python-container]" in message
    assert [problem.path for problem in error.value.problems] == ["blocks[0]", "blocks[1]"]
    assert {problem.rule for problem in error.value.problems} == {"NN104"}
    # The Dropout in the same list holds no state: a note here (train-eval judges its mode).
    (note,) = error.value.notes
    assert note.startswith("blocks[2]: Dropout held in a plain list is not registered, but it holds no parameters")


def test_checks_are_available_by_public_name() -> None:
    assert tuple(checks.CHECKS) == CHECK_NAMES
    result = checks.run_check("registration", spec_for("clean_cnn"))
    assert (result.check, result.model, result.device) == ("registration", "clean_cnn", "cpu")
    with pytest.raises(ValueError, match="unknown check 'speed'"):
        checks.run_check("speed", spec_for("clean_cnn"))


def test_the_state_dict_check_demonstrates_the_snapshot_lesson_on_the_model() -> None:
    result = checks.state_dict_roundtrip(spec_for("clean_cnn"))
    (detail,) = result.details
    assert "model.state_dict() aliases the live tensors" in detail
    assert "copy.deepcopy" in detail and "NN301" in detail


# --- devices that do not apply -----------------------------------------------------------------


def test_cuda_is_skipped_with_a_reason_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CheckSkipped, match=r"CUDA is not available \(torch.cuda.is_available\(\) is False\)"):
        checks.device_transfer(spec_for("clean_cnn"), "cuda")


def test_parity_does_not_run_on_cpu_and_meta_is_not_a_check_device() -> None:
    with pytest.raises(CheckSkipped, match="does not run on cpu"):
        checks.parity(spec_for("clean_cnn"), "cpu")
    with pytest.raises(ValueError, match="meta"):
        checks.registration(spec_for("clean_cnn"), "meta")
    with pytest.raises(TypeError, match="expected a ModelSpec"):
        checks.registration(object())  # type: ignore[arg-type]


# --- models and specs that are unusual or wrong ------------------------------------------------


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> Any:
        return self.linear(x)


def cpu_inputs(device: torch.device) -> torch.Tensor:
    return torch.randn(4, 3, device=device)


def problems_of(check: Any, spec: ModelSpec) -> str:
    with pytest.raises(CheckFailure) as error:
        check(spec, "cpu")
    return str(error.value)


def test_a_factory_that_raises_is_a_clear_failure() -> None:
    def broken() -> nn.Module:
        raise ValueError("checkpoint not found")

    message = problems_of(checks.registration, ModelSpec("m", factory=broken, inputs=cpu_inputs))
    assert "the factory" in message and "broken" in message
    assert "raised ValueError: checkpoint not found" in message and "test_checks.py" in message


def test_a_factory_must_return_a_new_module_each_call() -> None:
    message = problems_of(checks.registration, ModelSpec("m", factory=lambda: "model", inputs=cpu_inputs))
    assert "returned str, not a torch.nn.Module" in message
    shared = Tiny()
    spec = ModelSpec("m", factory=lambda: shared, inputs=cpu_inputs)
    # The round trip builds two instances under different seeds: the second call returns the first.
    assert "returned an instance it returned before" in problems_of(checks.state_dict_roundtrip, spec)
    assert shared.training and all(p.grad is None for p in shared.parameters())  # never touched


def test_inputs_of_the_wrong_shape_name_the_shapes() -> None:
    spec = ModelSpec("m", factory=Tiny, inputs=lambda device: torch.randn(4, 5, device=device))
    message = problems_of(checks.grad_flow, spec)
    assert "the forward pass on cpu raised RuntimeError" in message
    assert "input shapes: inputs[0] (4, 5)" in message


def test_inputs_that_ignore_their_device_are_reported() -> None:
    spec = ModelSpec("m", factory=Tiny, inputs=lambda device: torch.randn(4, 3))  # always CPU
    message = problems_of(checks.device_transfer, spec)
    assert "inputs[0]: inputs(meta) returned a tensor on cpu" in message


def test_an_inputs_callable_that_raises_is_a_clear_failure() -> None:
    def inputs(device: torch.device) -> torch.Tensor:
        raise KeyError("batch")

    message = problems_of(checks.train_eval, ModelSpec("m", factory=Tiny, inputs=inputs))
    assert "inputs(cpu)" in message and "raised KeyError" in message


def test_a_model_without_parameters() -> None:
    spec = ModelSpec("m", factory=nn.ReLU, inputs=cpu_inputs)
    outcomes = {o.check: o for o in run_all(spec, devices=["cpu"])}
    assert outcomes["freezing"].status == "skipped" and "no parameters" in outcomes["freezing"].message
    assert outcomes["grad-flow"].status == "skipped" and "no parameters" in outcomes["grad-flow"].message
    for name in ("registration", "device-transfer", "state-dict-roundtrip", "train-eval"):
        assert outcomes[name].status == "passed", outcomes[name].message


class DictOutput(Tiny):
    def forward(self, x: torch.Tensor) -> Any:
        y = self.linear(x)
        return {"logits": y, "pair": (y.argmax(-1), y * 2), "note": "text", "nothing": None}


class NoneOutput(Tiny):
    def forward(self, x: torch.Tensor) -> Any:
        self.linear(x)
        return None


class StringOutput(Tiny):
    def forward(self, x: torch.Tensor) -> Any:
        return "done"


def test_nested_outputs_are_searched_for_tensors() -> None:
    outcomes = run_all(ModelSpec("m", factory=DictOutput, inputs=cpu_inputs), devices=["cpu"])
    assert {o.status for o in outcomes} == {"passed"}, [o.message for o in outcomes]


@pytest.mark.parametrize(("factory", "described"), [(NoneOutput, "returned None"), (StringOutput, "returned a str")])
def test_outputs_without_a_floating_tensor_skip_the_gradient_checks(factory: type, described: str) -> None:
    outcomes = {o.check: o for o in run_all(ModelSpec("m", factory=factory, inputs=cpu_inputs), devices=["cpu"])}
    for name in ("freezing", "grad-flow"):
        assert outcomes[name].status == "skipped"
        assert described in outcomes[name].message and "loss=" in outcomes[name].message
    for name in ("registration", "device-transfer", "state-dict-roundtrip", "train-eval"):
        assert outcomes[name].status == "passed", outcomes[name].message


def test_a_custom_loss_is_used_and_must_be_a_scalar() -> None:
    seen = []

    def loss(output: torch.Tensor) -> torch.Tensor:
        seen.append(output.shape)
        return output.pow(2).mean()

    checks.grad_flow(ModelSpec("m", factory=Tiny, inputs=cpu_inputs, loss=loss))
    assert seen == [torch.Size([4, 2])]
    message = problems_of(checks.grad_flow, ModelSpec("m", factory=Tiny, inputs=cpu_inputs, loss=lambda out: out))
    assert "loss(output) must return a scalar tensor, got (4, 2)" in message


def test_a_frozen_pattern_that_matches_nothing_is_reported() -> None:
    message = problems_of(checks.freezing, ModelSpec("m", factory=Tiny, inputs=cpu_inputs, frozen=["encoder"]))
    assert "frozen pattern 'encoder' matches no parameter (parameters: linear.weight, linear.bias)" in message


def test_frozen_patterns_freeze_by_prefix_and_glob() -> None:
    # CleanCNN does not keep frozen norm layers in eval: freezing `features` exposes both.
    message = problems_of(checks.freezing, spec_for("clean_cnn", frozen=["features", "head.b*"]))
    assert "features.1: is frozen but its running statistics" in message
    assert "features.4: is frozen but its running statistics" in message
    assert "head" not in message  # head.bias frozen and unchanged, head.weight trained
    checks.grad_flow(spec_for("clean_cnn", frozen=["features", "head.b*"]))


class NoMeta(Tiny):
    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        if fn(torch.empty(0)).device.type == "meta":
            raise RuntimeError("this model refuses the meta device")
        return super()._apply(fn, recurse)


class NonzeroModel(Tiny):
    def forward(self, x: torch.Tensor) -> Any:
        return self.linear(x[x.sum(-1) > 0])  # data-dependent shape: no meta kernel


class CpuConstantInForward(Tiny):
    def forward(self, x: torch.Tensor) -> Any:
        return self.linear(x) + torch.ones(2)  # bug: made on the CPU whatever the device


def test_a_model_that_cannot_go_to_meta_still_gets_checked_on_cpu() -> None:
    result = checks.device_transfer(ModelSpec("m", factory=NoMeta, inputs=cpu_inputs))
    assert result.notes == ("skipped the transfer to the meta device: model.to(meta) raised RuntimeError: "
                            "this model refuses the meta device (at " + __file__ + ":" + str(NoMeta._apply.__code__.co_firstlineno + 2) + " in _apply)",)


def test_an_op_without_meta_kernel_skips_only_the_meta_forward() -> None:
    result = checks.device_transfer(ModelSpec("m", factory=NonzeroModel, inputs=cpu_inputs))
    (note,) = result.notes
    assert note.startswith("skipped the forward pass on the meta device:")


def test_a_tensor_created_on_the_cpu_in_forward_is_caught_on_meta() -> None:
    message = problems_of(checks.device_transfer, ModelSpec("m", factory=CpuConstantInForward, inputs=cpu_inputs))
    assert "the forward pass on the meta device mixed devices" in message
    assert "device=x.device" in message


# --- look-alikes that must stay silent ----------------------------------------------------------


class Aliases(nn.Module):
    """Convenience lists of registered modules and parameters, weight_norm, an LSTM."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = torch.nn.utils.weight_norm(nn.Linear(3, 3))  # noqa: NN802 - deliberate
        self.rnn = nn.LSTM(3, 3, batch_first=True)
        self.layers = [self.a, self.b]
        self.named = {"a": self.a}
        self.params = [self.a.weight]
        self.shape = (3, 3)
        self.labels = ["x", "y"]

    def forward(self, x: torch.Tensor) -> Any:
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.rnn(x.unsqueeze(1))[0]


@pytest.mark.filterwarnings("ignore:.*weight_norm.*is deprecated:FutureWarning")
def test_aliases_of_registered_objects_and_weight_norm_are_not_reported() -> None:
    outcomes = run_all(ModelSpec("m", factory=Aliases, inputs=cpu_inputs), devices=["cpu"])
    assert {o.check: o.status for o in outcomes} == {name: "passed" for name in CHECK_NAMES if name != "parity"}, [
        o.message for o in outcomes if o.status != "passed"
    ]


class StaleBufferReference(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(3))
        self.cache = [self.scale]  # goes stale: .to() replaces buffers

    def forward(self, x: torch.Tensor) -> Any:
        return x * self.cache[0]


def test_a_stale_reference_to_a_buffer_is_explained() -> None:
    message = problems_of(checks.device_transfer, ModelSpec("m", factory=StaleBufferReference, inputs=cpu_inputs))
    assert "cache[0]: is a stale reference to buffer 'scale'" in message


def test_the_freezing_check_steps_exactly_as_a_first_adamw_step() -> None:
    """freezing computes AdamW's first step directly (no optimizer state): the same update,
    including decay, a parameter whose gradient is zero and one without a gradient."""
    import copy

    from pytest_nnlint.checks.freezing import LEARNING_RATE, WEIGHT_DECAY, first_adamw_step

    torch.manual_seed(0)
    reference = nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 2), nn.Linear(2, 2))
    direct = copy.deepcopy(reference)
    inputs = torch.randn(3, 8)
    for model in (reference, direct):
        model[:2](inputs).sum().backward()  # the last layer gets no gradient
        model[0].bias.grad.zero_()
    torch.optim.AdamW(reference.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY).step()
    first_adamw_step(direct.parameters())
    for expected, got in zip(reference.parameters(), direct.parameters()):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)


class _Settings:
    """Not a tensor or plain container: torch.load(weights_only=True) refuses it."""

    def __init__(self, scale: float) -> None:
        self.scale = scale


class WithExtraState(Tiny):
    def get_extra_state(self) -> Any:
        return _Settings(2.0)

    def set_extra_state(self, state: Any) -> None:
        self.settings = state


class WithPlainExtraState(Tiny):
    def get_extra_state(self) -> Any:
        return {"scale": 2.0, "table": torch.arange(3)}

    def set_extra_state(self, state: Any) -> None:
        self.table = state["table"]


def test_the_round_trip_keeps_what_can_break_it_while_leaving_plain_tensor_bytes_out() -> None:
    # Extra state the safe loader refuses is still caught although plain tensors travel as
    # dtype and shape only.
    message = problems_of(checks.state_dict_roundtrip, ModelSpec("m", factory=WithExtraState, inputs=cpu_inputs))
    assert "cannot be read back with torch.load(weights_only=True)" in message and "_Settings" in message
    # Extra state made of tensors and plain containers comes back and loads strictly (a failure
    # would raise), and the check goes on to its last step, the snapshot demonstration.
    result = checks.state_dict_roundtrip(ModelSpec("m", factory=WithPlainExtraState, inputs=cpu_inputs), "cpu")
    assert any("aliases the live tensors" in detail for detail in result.details)


def test_registration_reads_the_prototype_without_copying_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import copy as copy_module

    copies = []
    real_deepcopy = copy_module.deepcopy
    monkeypatch.setattr(copy_module, "deepcopy", lambda value, *a: copies.append(type(value)) or real_deepcopy(value, *a))
    built = []
    spec = ModelSpec("m", factory=lambda: built.append(1) or Tiny(), inputs=cpu_inputs)
    checks.registration(spec, "cpu")
    assert (len(built), copies) == (1, [])  # nothing to re-derive on meta: the walk reads the prototype
    checks.grad_flow(spec, "cpu")
    assert len(built) == 1 and copies[0] is Tiny  # later checks get copies of the untouched prototype


class Versioned(Tiny):
    """Reads its version from the state_dict's metadata when loading, as torchvision's MNASNet."""

    _version = 2

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: dict, *args: Any) -> None:
        if local_metadata.get("version") != 2:
            raise ValueError(f"version should be 2, got {local_metadata.get('version')}")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)


def test_the_round_trip_carries_the_state_dicts_metadata() -> None:
    result = checks.state_dict_roundtrip(ModelSpec("m", factory=Versioned, inputs=cpu_inputs), "cpu")
    assert result.check == "state-dict-roundtrip"
