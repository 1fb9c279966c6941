"""Patterns of correct real models that the checks must not fail (zero-init, normalisation heads,
stochastic depth, stateless modules in plain containers, attributes re-derived on the input's
device), exemptions, inferred inputs, and failures that stay short (issue 14). Small stand-ins
for the library models: the zoo in bench/plugin_zoo runs the real ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pytest_nnlint import CheckFailure, Inputs, ModelSpec, checks, run_all


def x4(device: torch.device) -> torch.Tensor:
    return torch.randn(4, 8, device=device)


def statuses(spec: ModelSpec) -> dict[str, str]:
    return {o.check: o.status + (": " + o.message if o.status != "passed" else "") for o in run_all(spec, devices=["cpu"])}


def notes_of(spec: ModelSpec) -> list[str]:
    return [note for o in run_all(spec, devices=["cpu"]) if o.result for note in o.result.notes]


class ZeroInitResidual(nn.Module):
    """A residual block whose last layer starts at zero (timm zero_init_last, torchvision
    zero_init_residual) and a zero-initialised head (torchvision ViT): the first step's
    gradient upstream of them is exactly zero."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(8, 8)
        self.branch = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
        nn.init.zeros_(self.branch[2].weight)
        nn.init.zeros_(self.branch[2].bias)
        self.head = nn.Linear(8, 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.head(x + self.branch(x))


def test_zero_initialised_layers_pass_with_a_note() -> None:
    spec = ModelSpec("zero-init", factory=ZeroInitResidual, inputs=x4)
    assert all(status == "passed" for status in statuses(spec).values()), statuses(spec)
    assert any("exactly-zero gradient" in note and "stem.weight" in note for note in notes_of(spec))


class NormalisedHead(nn.Module):
    """Ends in BatchNorm without affine parameters: the sum of its outputs is constant in train
    mode, so a sum loss gives every parameter an exactly-zero gradient (timm LeViT)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 6)
        self.norm = nn.BatchNorm1d(6, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.body(x))


def test_the_default_loss_reaches_through_a_normalisation_head() -> None:
    from pytest_nnlint.checks._support import compute_loss

    spec = ModelSpec("bn-head", factory=NormalisedHead, inputs=x4)
    model = NormalisedHead().train()
    output = model(x4(torch.device("cpu")))
    assert output.sum().abs() < 1e-4  # what a sum loss would see: nothing to differentiate
    compute_loss(spec, output).backward()
    assert model.body.weight.grad is not None and bool(model.body.weight.grad.any())
    assert compute_loss(spec, output).item() == compute_loss(spec, output).item()  # a fixed projection
    assert statuses(spec) == {c: "passed" for c in statuses(spec)}


class SkippedInTraining(nn.Module):
    """Stochastic depth that skips the whole block (here: always, in train mode): its parameters
    get no gradient from a train-mode pass, but they are part of the model."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(8, 8)
        self.block = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.training:
            return x
        return x + self.block(x)


def test_a_block_skipped_by_randomness_is_not_a_failure() -> None:
    spec = ModelSpec("drop-path", factory=SkippedInTraining, inputs=x4)
    result = statuses(spec)
    assert result["grad-flow"] == "passed" and result["freezing"] == "passed", result
    assert any("no gradient from the train-mode pass but do in eval mode" in n for n in notes_of(spec))


class Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.unused = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_a_parameter_no_pass_reaches_still_fails() -> None:
    result = statuses(ModelSpec("unused", factory=Unused, inputs=x4))
    assert result["grad-flow"].startswith("failed") and "unused.weight: received no gradient in train or eval mode" in result["grad-flow"]
    assert "unused.weight: is trainable but did not change" in result["freezing"]


class Anchors(nn.Module):
    """torchvision's AnchorGenerator: anchors in a plain list, moved to the input's device and
    dtype by forward on every call."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.cell_anchors = [torch.ones(8), torch.zeros(8)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cell_anchors = [a.to(device=x.device, dtype=x.dtype) for a in self.cell_anchors]
        return self.linear(x) + self.cell_anchors[0]


def test_attributes_forward_re_derives_are_notes() -> None:
    spec = ModelSpec("anchors", factory=Anchors, inputs=x4)
    assert checks.registration(spec).notes == (
        "cell_anchors[0]: not registered, but forward re-derives it on the input's device",
        "cell_anchors[1]: not registered, but forward re-derives it on the input's device",
    )
    notes = checks.device_transfer(spec).notes
    assert "cell_anchors[0]: not registered, but forward re-derives it on the input's device (meta)" in notes


class DetectionAnchors(Anchors):
    """Anchors as above in a model the meta device cannot run (a data-dependent selection, like
    a detection head's score threshold)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out[out > 0]


class PerCallCache(nn.Module):
    """torchvision RAFT's correlation block: a placeholder list that forward refills every call."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.pyramid = [torch.tensor(0)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.pyramid = [self.linear(x)]
        return self.pyramid[0][self.pyramid[0] > 0]


class OffsetUsedAsIs(nn.Module):
    """The look-alike: a plain tensor forward uses without re-deriving it, in the same
    meta-resistant model. It does not follow .to(), so both checks must still fail."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.offset = torch.ones(8)  # noqa: NN103 - the defect under test

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x) + self.offset
        return out[out > 0]


class DefaultBoxes(nn.Module):
    """torchvision SSD's DefaultBoxGenerator: sizes kept on the CPU, boxes computed there and
    moved to the input's device; the model is meta-resistant like a detection head."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self._wh_pairs = [torch.rand(4, 2), torch.rand(2, 2)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifts = torch.arange(4.0).reshape(-1, 1).repeat(1, 2)  # made on the CPU too
        boxes = torch.cat([torch.cat((shifts[: len(wh)], wh.clamp(0, 1)), 1) for wh in self._wh_pairs])
        boxes = boxes.to(x.device)
        out = self.linear(x) + boxes.sum() + boxes[:, :1].mean()
        return out[out > 0]


class StateUpdatedInForward(nn.Module):
    """Running state kept as a plain tensor and updated from the input: it must be registered
    (lost at checkpoint, and on a GPU the CPU state cannot take the input's scalar)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.level = torch.zeros(8)  # noqa: NN103 - the defect under test

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.level = 0.9 * self.level + 0.1 * x.mean()
        out = self.linear(x)
        return out[out > 0]


def test_state_updated_in_forward_is_not_excused() -> None:
    with pytest.raises(CheckFailure) as failure:
        checks.registration(ModelSpec("m", factory=StateUpdatedInForward, inputs=x4))
    assert [problem.path for problem in failure.value.problems] == ["level"]


class BoxesLeftBehind(DefaultBoxes):
    """The look-alike: the CPU sizes meet the output without being moved."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)[:, :2] * self._wh_pairs[1][:1]
        return out[out > 0]


class SizesMovedByDevice(DefaultBoxes):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = torch.as_tensor(self._wh_pairs[0], device=x.device)  # device= moves it
        out = self.linear(x)[:, :2] + sizes.t()[:, :1].t().expand(4, 2) + self._wh_pairs[1].sum().to(x)
        return out[out > 0]


class SizesOnlyCast(DefaultBoxes):
    """`.to(dtype)` is a cast, not a move: the sizes still meet the input on their own device."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)[:, :2] + self._wh_pairs[0].to(x.dtype)[:1] + self._wh_pairs[1].sum().to(x)
        return out[out > 0]


def test_what_counts_as_a_move_for_a_constant() -> None:
    assert len(checks.registration(ModelSpec("m", factory=SizesMovedByDevice, inputs=x4)).notes) == 2
    with pytest.raises(CheckFailure) as failure:
        checks.registration(ModelSpec("m", factory=SizesOnlyCast, inputs=x4))
    assert [problem.path for problem in failure.value.problems] == ["_wh_pairs[0]"]


def test_a_constant_used_where_it_is_and_moved_before_it_meets_the_input_is_a_note() -> None:
    spec = ModelSpec("m", factory=DefaultBoxes, inputs=x4)
    moved = "not registered, but forward computes with it where it is and moves the result to the input's device before it meets the input (traced on the CPU)"
    assert checks.registration(spec).notes == (f"_wh_pairs[0]: {moved}", f"_wh_pairs[1]: {moved}")
    assert {f"_wh_pairs[0]: {moved}", f"_wh_pairs[1]: {moved}"} <= set(checks.device_transfer(spec).notes)
    for check in (checks.registration, checks.device_transfer):
        with pytest.raises(CheckFailure) as failure:
            check(ModelSpec("m", factory=BoxesLeftBehind, inputs=x4))
        # _wh_pairs[0] is never used: nothing shows it is harmless, so it stays a failure too.
        assert sorted(problem.path for problem in failure.value.problems) == ["_wh_pairs[0]", "_wh_pairs[1]"]


@pytest.mark.parametrize("factory, paths", [(DetectionAnchors, ["cell_anchors[0]", "cell_anchors[1]"]), (PerCallCache, ["pyramid[0]"])])
def test_attributes_rebuilt_where_the_meta_device_cannot_run_are_notes(factory: type, paths: list[str]) -> None:
    spec = ModelSpec("m", factory=factory, inputs=x4)
    rebuilt = "not registered, but forward rebuilds it from the input on every call"
    assert checks.registration(spec).notes == tuple(f"{path}: {rebuilt} (seen on the CPU: it followed the input's dtype)" for path in paths)
    notes = checks.device_transfer(spec).notes
    assert all(any(note.startswith(f"{path}: {rebuilt}") for note in notes) for path in paths), notes


def test_a_plain_tensor_forward_uses_as_is_still_fails_where_the_meta_device_cannot_run() -> None:
    spec = ModelSpec("m", factory=OffsetUsedAsIs, inputs=x4)
    for check in (checks.registration, checks.device_transfer):
        with pytest.raises(CheckFailure) as failure:
            check(spec)
        assert [problem.path for problem in failure.value.problems] == ["offset"]


class Offsets(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.offsets = [torch.randn(8) for _ in range(15)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + sum(self.offsets)


def test_allowances_turn_matching_problems_into_notes_with_the_reason() -> None:
    reason = "constants, never trained or saved"
    spec = ModelSpec("offsets", factory=Offsets, inputs=x4, allow={"registration": [{"pattern": "offsets", "reason": reason}]})
    result = checks.registration(spec)
    (note,) = result.notes
    assert note.startswith(f"allowed by allow.registration 'offsets': {reason}: 15 problem(s) at offsets[0], offsets[1], offsets[2], ...")
    # Only the named check: the transfer still fails, naming every tensor left behind.
    with pytest.raises(CheckFailure) as failure:
        checks.device_transfer(spec)
    assert len(failure.value.problems) == 15


def test_a_long_failure_lists_ten_problems_and_counts_the_rest() -> None:
    with pytest.raises(CheckFailure) as failure:
        checks.registration(ModelSpec("offsets", factory=Offsets, inputs=x4))
    lines = str(failure.value).splitlines()
    assert len(lines) == 1 + 10 + 1
    assert lines[-1] == "  ... and 5 more (pytest -vv lists them all)"
    assert len(failure.value.text(None).splitlines()) == 1 + 15


class StatelessInDict(nn.Module):
    """Llama/Mistral in transformers 5: stateless wrappers kept in a plain dict on purpose."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.activations = {"act": nn.GELU(), "drop": nn.Dropout(p)}  # noqa: NN104 - deliberate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations["drop"](self.activations["act"](self.linear(x)))


def test_stateless_modules_in_plain_containers_are_notes_unless_their_mode_matters() -> None:
    spec = ModelSpec("stateless", factory=StatelessInDict, inputs=x4)
    assert all(status == "passed" for status in statuses(spec).values()), statuses(spec)
    notes = notes_of(spec)
    assert any(n.startswith("activations['act']: GELU held in a plain dict is not registered, but it holds no") for n in notes)
    assert any("activations['drop']: Dropout held in a plain dict stays in training mode" in n for n in notes)
    # A real dropout rate: eval() cannot reach it and the eval output is random - a failure.
    dropping = ModelSpec("dropping", factory=lambda: StatelessInDict(0.5), inputs=x4)
    with pytest.raises(CheckFailure, match=r"activations\['drop'\]: Dropout held in a plain dict stays in training mode"):
        checks.train_eval(dropping)


class Deep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1)) for _ in range(6)])

    def train(self, mode: bool = True) -> Deep:  # noqa: NN205 - deliberate
        self.training = mode  # bug: children never switch
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def test_a_train_override_is_named_once_as_the_cause() -> None:
    with pytest.raises(CheckFailure) as failure:
        checks.train_eval(ModelSpec("deep", factory=Deep, inputs=x4))
    (override, *others) = failure.value.problems
    assert override.path == "model" and override.rule == "NN205"
    assert override.message.startswith("Deep.train() is overridden without calling super().train(mode): 19 submodule(s)")
    assert "blocks (Sequential), blocks.0 (Sequential), blocks.0.0 (Linear) and 16 more" in override.message
    assert all(problem.path != "blocks.0" for problem in others)  # not once per child


class KeywordOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.embed(input_ids)
        if attention_mask is not None:
            hidden = hidden * attention_mask.unsqueeze(-1)
        return self.head(hidden.mean(1))


def test_keyword_inputs_from_a_callable_and_from_a_declaration() -> None:
    from_callable = ModelSpec(
        "kw", factory=KeywordOnly,
        inputs=lambda device: Inputs(input_ids=torch.randint(0, 50, (2, 5), device=device),
                                     attention_mask=torch.ones(2, 5, device=device)),
    )
    declared = ModelSpec(
        "kw-declared", factory=KeywordOnly,
        inputs={"input_ids": {"shape": [2, 5], "dtype": "int64", "high": 50},
                "attention_mask": {"shape": [2, 5], "low": 1.0, "high": 1.0001}},
    )
    for spec in (from_callable, declared):
        assert all(status == "passed" for status in statuses(spec).values()), statuses(spec)


class ImageNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean((2, 3)))


class TimmLike(ImageNet):
    pretrained_cfg = {"input_size": (3, 40, 40)}


class TransformersLike(nn.Module):
    """What the inference reads of a transformers model: main_input_name and the config."""

    main_input_name = "input_ids"

    def __init__(self) -> None:
        super().__init__()
        self.config = type("Config", (), {"vocab_size": 30, "is_encoder_decoder": False})()
        self.inner = KeywordOnly()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


class RawAudio(nn.Module):
    """wav2vec2's feature encoder: (batch, samples), the channel added in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 10, stride=5)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.conv(waveform[:, None]).mean(-1)


class AudioTransformersLike(RawAudio):
    main_input_name = "input_values"
    config = type("Config", (), {"vocab_size": 32})()

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        return super().forward(input_values)


class ImagePair(ImageNet):
    """Optical flow / stereo (torchvision RAFT): forward requires two images."""

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        return super().forward(image1) - super().forward(image2)


class Video(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, (3, 7, 7), stride=(1, 2, 2))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.conv(clip).mean((2, 3, 4))


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (ImageNet, "inputs inferred from conv (Conv2d): [2, 3, 224, 224] float32 (checked on the meta device)"),
        (RawAudio, "inputs inferred from conv (Conv1d): [2, 128] float32 (checked on the meta device)"),
        (AudioTransformersLike, "inputs inferred from the transformers config (input_values: raw audio): input_values=[2, 16000] float32"),
        (ImagePair, "inputs inferred from conv (Conv2d): [2, 3, 224, 224] float32, [2, 3, 224, 224] float32 (checked on the meta device)"),
        (Video, "inputs inferred from conv (Conv3d): [2, 3, 16, 112, 112] float32 (checked on the meta device)"),
        (TimmLike, "inputs inferred from pretrained_cfg['input_size']: [2, 3, 40, 40] float32 (checked on the meta device)"),
        (TransformersLike, "inputs inferred from the transformers config (vocab_size): input_ids=[2, 16] int64, attention_mask=[2, 16] int64"),
        (Unused, "inputs inferred from body (Linear): [2, 8] float32"),
    ],
)
def test_inputs_are_inferred_and_reported(factory: type, expected: str) -> None:
    spec = ModelSpec(factory.__name__, factory=factory)
    result = checks.train_eval(spec)
    assert any(note.startswith(expected) for note in result.notes), result.notes


def test_inputs_that_cannot_be_inferred_are_one_clear_failure() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3))

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a * self.weight + b

    with pytest.raises(CheckFailure, match="no inputs were given and none could be inferred .*inputs = "):
        checks.grad_flow(ModelSpec("odd", factory=Odd))


def test_building_is_paid_once_per_spec_and_seed() -> None:
    calls = []

    def factory() -> nn.Module:
        calls.append(1)
        return ZeroInitResidual()

    spec = ModelSpec("counted", factory=factory, inputs=x4)
    run_all(spec, devices=["cpu"])
    assert len(calls) == 2  # the spec's seed, and seed + 1 for the state_dict round trip
