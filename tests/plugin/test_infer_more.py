"""Inferred inputs beyond the first layers and the main input: a model whose first registered layer
is not the first in data flow, attention's input size, multi-modal transformers models (CLIP and
the like need every tower's input), and failures that stay short when many candidates fail."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

from pytest_nnlint.infer import LAYER_CANDIDATES, candidates_for, infer_inputs
from pytest_nnlint.results import CheckFailure
from pytest_nnlint.spec import ModelSpec
from tests.plugin.conftest import REPO


def inferred(model: nn.Module) -> str:
    return infer_inputs(ModelSpec(type(model).__name__, factory=lambda: model), model)[1]


def failure(model: nn.Module) -> str:
    with pytest.raises(CheckFailure) as caught:
        inferred(model)
    return str(caught.value)


# --- layers past the first ------------------------------------------------------------------------


class MHAPool(nn.Module):
    """Attention pooling with a learned query: the layers that come first in data flow (proj)
    are registered last."""

    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, d))
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True, dropout=0.1)
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(16, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        q = self.query.expand(x.shape[0], -1, -1)
        out, _ = self.attn(q, x, x)
        return self.norm(out.squeeze(1))


def test_a_layer_registered_after_the_first_three_suggests_the_inputs() -> None:
    assert inferred(MHAPool()) == "inputs inferred from proj (Linear): [2, 16, 16] float32 (checked on the meta device)"


class SelfAttention(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x)[0]


@pytest.mark.parametrize(("batch_first", "shape"), [(True, "[2, 16, 8]"), (False, "[16, 2, 8]")])
def test_attention_suggests_its_embedding_size_in_its_layout(batch_first: bool, shape: str) -> None:
    expected = f"inputs inferred from attn (MultiheadAttention): {shape} float32 (checked on the meta device)"
    assert inferred(SelfAttention(batch_first)) == expected


class Doubling(nn.Module):
    """A look-alike: forward doubles the features before the first layer, so no layer's size is
    the input's; every one of its 40 layers suggests shapes that fail."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(nn.Linear(width, width + 1) for width in range(4, 44)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([x, x], dim=-1))


def test_a_deep_model_tries_a_bounded_number_of_layer_candidates() -> None:
    assert len(list(candidates_for(Doubling()))) == LAYER_CANDIDATES


def test_many_failed_candidates_are_one_short_message() -> None:
    message = failure(Doubling())
    assert "no inputs were given and none could be inferred ([2, 4] float32 from layers.0 (Linear): RuntimeError" in message
    assert f"; and {LAYER_CANDIDATES - 3} more); describe them, e.g. inputs = " in message
    assert message.count(" from layers.") == 3
    assert len(message) < 1000


# --- multi-modal transformers models, without transformers -------------------------------------


class Config:
    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


class DualEncoder(nn.Module):
    """What the inference reads of CLIP: no vocab_size or image_size on the config itself, and a
    forward whose inputs are all optional but that needs both."""

    main_input_name = "input_ids"

    def __init__(self) -> None:
        super().__init__()
        # The vision config's own vocab_size (BEiT's visual tokens) is not the text's.
        vision = Config(image_size=8, num_channels=1, vocab_size=8192)
        self.config = Config(text_config=Config(vocab_size=30, max_position_embeddings=10), vision_config=vision)
        self.text = nn.Embedding(30, 4)
        self.vision = nn.Conv2d(1, 4, 8)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        text = self.text(input_ids).mean(1)
        image = self.vision(pixel_values).flatten(1)
        return text @ image.T


def test_a_dual_encoder_gets_each_modality_from_its_sub_config() -> None:
    assert inferred(DualEncoder()) == (
        "inputs inferred from the transformers config (input_ids and pixel_values: text_config.vocab_size, "
        "vision_config.image_size, num_channels): input_ids=[2, 10] int64, attention_mask=[2, 10] int64, "
        "pixel_values=[2, 1, 8, 8] float32 (checked on the meta device)"
    )


class DualEncoderWithBoxes(DualEncoder):
    """A look-alike (a document model): it also requires boxes, which no config describes."""

    def forward(  # type: ignore[override]
        self,
        boxes: torch.Tensor,
        input_ids: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return super().forward(input_ids, pixel_values) + boxes.sum()


def test_a_multi_modal_model_needing_more_than_its_config_describes_fails_clearly() -> None:
    message = failure(DualEncoderWithBoxes())
    assert message.count("from the transformers config") == 2  # together, then the main input alone
    assert "from the transformers config (input_ids and pixel_values: text_config.vocab_size" in message
    assert "missing 1 required positional argument: 'boxes'" in message
    assert "describe them, e.g. inputs = " in message


# --- real transformers models (tiny configs, nothing downloaded) ---------------------------------


def transformers_models() -> ModuleType:
    transformers = pytest.importorskip("transformers")
    _define_torchvision_operators()
    try:
        from transformers import CLIPModel  # noqa: F401 - whether the model classes import here
    except ImportError as exc:
        pytest.skip(f"transformers' models do not import here: {exc}")
    return transformers


def _define_torchvision_operators() -> None:
    """transformers imports torchvision, whose PyPI wheel (a CUDA build) does not load with a CPU
    torch; the bench's shim defines its operator schemas (nothing is done where they load)."""
    path = REPO / "bench" / "plugin_zoo" / "torchvision_cpu_shim.py"
    spec = importlib.util.spec_from_file_location("_nnlint_torchvision_cpu_shim", path)
    if spec is None or spec.loader is None or importlib.util.find_spec("torchvision") is None:
        return
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)


TEXT = {"vocab_size": 99, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
        "num_attention_heads": 4, "max_position_embeddings": 12}
VISION = {"image_size": 30, "patch_size": 6, "hidden_size": 32, "intermediate_size": 37,
          "num_hidden_layers": 1, "num_attention_heads": 4}


@pytest.mark.parametrize("name", ["CLIP", "Siglip", "Blip"])
def test_dual_encoders_get_text_and_images_together(name: str) -> None:
    transformers = transformers_models()
    config = getattr(transformers, f"{name}Config")(text_config=TEXT, vision_config=VISION)
    model = getattr(transformers, f"{name}Model")(config)
    assert inferred(model).startswith(
        "inputs inferred from the transformers config (input_ids and pixel_values: text_config.vocab_size, "
        "vision_config.image_size, num_channels): input_ids=[2, 12] int64, attention_mask=[2, 12] int64, "
        "pixel_values=[2, 3, 30, 30] float32"
    )


def test_a_text_model_still_gets_its_main_input_alone() -> None:
    transformers = transformers_models()
    model = transformers.BertModel(transformers.BertConfig(**TEXT))
    assert inferred(model).startswith(
        "inputs inferred from the transformers config (vocab_size): input_ids=[2, 12] int64, attention_mask=[2, 12] int64"
    )


def test_a_spectrogram_model_gets_frames_by_mel_bins_not_a_waveform() -> None:
    transformers = transformers_models()
    sizes = {key: value for key, value in VISION.items() if key != "image_size"}
    config = transformers.ASTConfig(**{**sizes, "num_mel_bins": 16, "max_length": 24, "patch_size": 8})
    assert inferred(transformers.ASTModel(config)).startswith(
        "inputs inferred from the transformers config (input_values: a spectrogram of max_length x num_mel_bins): "
        "input_values=[2, 24, 16] float32"
    )


def test_a_non_square_image_size_gives_height_and_width() -> None:
    transformers = transformers_models()
    model = transformers.YolosModel(transformers.YolosConfig(**{**VISION, "image_size": [36, 48], "num_detection_tokens": 3}))
    assert "pixel_values=[2, 3, 36, 48] float32" in inferred(model)
