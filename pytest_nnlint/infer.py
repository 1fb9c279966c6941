"""Inputs for a model whose spec gives none, inferred from the model itself.

Candidates, most specific first:
1. transformers models: the config or its sub-configs (`text_config`, `vision_config`...): every
   modality `forward` accepts together (CLIP's `input_ids` and `pixel_values`), then the
   `main_input_name` alone (`vocab_size`, `image_size`, `num_mel_bins`...), then the model's
   own `dummy_inputs`;
2. timm models: `pretrained_cfg["input_size"]` (or `default_cfg`);
3. the parameterised layers, in registration order: a conv's `in_channels`, a linear layer's
   `in_features`, an embedding's `num_embeddings`, a recurrent layer's or attention's input
   size, a norm's feature size (at most LAYER_CANDIDATES distinct shapes in all).
Each candidate is tried on a copy of the model on the `meta` device first (no compute, no
memory); only where the meta device cannot tell (an op without a meta kernel, data-dependent
shapes) is it run for real on the CPU. The first candidate that runs is used and reported.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from pytest_nnlint.inputs import Inputs
from pytest_nnlint.results import CheckFailure, CheckSkipped, Problem
from pytest_nnlint.spec import ModelSpec

BATCH = 2
SEQUENCE = 16
META = torch.device("meta")
CPU = torch.device("cpu")
# Spatial sizes tried for a convolutional first layer, most common first (299: Inception's).
SPATIAL_2D = (224, 299, 64, 32)
# (frames, height and width) tried for a 3D convolutional first layer (video clips).
SPATIAL_3D = ((16, 112, 112), (16, 224, 224), (16, 32, 32))
# Samples tried for a 1D convolution over one channel (raw audio): a short window, one second at 16 kHz.
WAVEFORM = (128, 16000)
# How many distinct shapes the parameterised layers may suggest in all. Layers after the first
# are tried too (the first registered need not be the first in data flow), each on the meta device;
# the cap keeps a deep model whose inputs cannot be inferred from trying a shape per layer.
LAYER_CANDIDATES = 24
# How many of the failed candidates the failure message shows.
SHOWN_TRIED = 3

Maker = Callable[[torch.Generator], Inputs]


def infer_inputs(spec: ModelSpec, model: nn.Module, *, required: bool = True) -> tuple[Inputs, str]:
    """(Inputs on the CPU, how they were found). Raises CheckFailure (or CheckSkipped when not
    `required`) listing what was tried when no candidate runs."""
    candidates = list(candidates_for(model))
    meta_model = _meta_copy(model)
    required_arguments = _required_positional(model)
    tried: list[str] = []
    for make, source in candidates:
        generator = torch.Generator().manual_seed(spec.seed)
        arguments = _fill_positional(make, generator, required_arguments)
        shapes = describe_inputs(arguments)
        if meta_model is not None:
            error = _error_of(meta_model, _to(arguments, META))
            if error is None:
                return arguments, f"inputs inferred from {source}: {shapes} (checked on the meta device)"
            if not _meta_cannot_tell(error):
                tried.append(f"{shapes} from {source}: {_short(error)}")
                continue
        error = _error_of(model, arguments)
        if error is None:
            return arguments, f"inputs inferred from {source}: {shapes}"
        tried.append(f"{shapes} from {source}: {_short(error)}")
    message = (
        f"no inputs were given and none could be inferred ({_summary(tried)}); describe them, e.g. "
        "inputs = [{shape = [2, 3, 224, 224]}] or inputs = {input_ids = {shape = [2, 16], dtype = \"int64\", high = 1000}}"
    )
    if required:
        raise CheckFailure(Problem("", message))
    raise CheckSkipped(message)


def _summary(tried: list[str]) -> str:
    """The first few failed candidates: the rest rarely tell more and would bury the advice."""
    if not tried:
        return "the model has no layer that suggests an input shape"
    shown = "; ".join(tried[:SHOWN_TRIED])
    hidden = len(tried) - SHOWN_TRIED
    return f"{shown}; and {hidden} more" if hidden > 0 else shown


def _required_positional(model: nn.Module) -> int:
    """How many arguments `forward` requires (positional, without a default)."""
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return 1
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in positional and p.default is inspect.Parameter.empty)


def _fill_positional(make: Maker, generator: torch.Generator, required: int) -> Inputs:
    """A one-tensor candidate for a forward that requires several arguments (an image pair for
    optical flow or stereo, two views) is repeated: one tensor of that shape per argument."""
    arguments = make(generator)
    if required <= 1 or arguments.kwargs or len(tuple(arguments)) != 1:
        return arguments
    return Inputs(*arguments, *(next(iter(make(generator))) for _ in range(required - 1)))


def candidates_for(model: nn.Module) -> Iterator[tuple[Maker, str]]:
    yield from _transformers_candidates(model)
    yield from _timm_candidates(model)
    yield from _layer_candidates(model)


# --- transformers ---------------------------------------------------------------------------------


# Keyword inputs of each modality that `forward` may take (audio has two: raw or features).
MODALITY_INPUTS = ("input_ids", "pixel_values", "input_values", "input_features")
# Words in a sub-config's name that make it the first place to look for a modality's sizes (a
# vision config may have a vocab_size of its own: BEiT's visual tokens).
MODALITY_CONFIGS = {
    "input_ids": ("text",),
    "pixel_values": ("vision", "image"),
    "input_values": ("audio", "speech"),
    "input_features": ("audio", "speech"),
}

Tensors = Callable[[torch.Generator], dict[str, torch.Tensor]]


def _transformers_candidates(model: nn.Module) -> Iterator[tuple[Maker, str]]:
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "main_input_name"):
        return
    main = getattr(model, "main_input_name", "input_ids")
    together = _all_modalities(model, config, main)
    if together is not None:
        yield together
    alone = _modality(main, config)
    if alone is not None:
        tensors, what = alone
        yield (lambda generator: Inputs(**tensors(generator))), f"the transformers config ({what})"
    yield from _dummy_inputs(model)


def _all_modalities(model: nn.Module, config: Any, main: str) -> tuple[Maker, str] | None:
    """Every modality input `forward` accepts, together (CLIP, SigLIP, BLIP). Tried before the
    main input alone: a dual encoder needs both, and a model that takes either computes with all
    of its parameters only when given all."""
    names = [name for name in MODALITY_INPUTS if name in _keyword_names(model)]
    if "input_values" in names and "input_features" in names:  # one audio input, never both
        names.remove("input_values" if main != "input_values" else "input_features")
    found = [(name, _modality(name, config)) for name in names]
    parts = [(name, part) for name, part in found if part is not None]
    if len(parts) < 2:
        return None

    def together(generator: torch.Generator) -> Inputs:
        return Inputs(**{k: v for _, (make, _) in parts for k, v in make(generator).items()})

    inputs = " and ".join(name for name, _ in parts)
    whats = ", ".join(what for _, (_, what) in parts)
    return together, f"the transformers config ({inputs}: {whats})"


def _keyword_names(model: nn.Module) -> set[str]:
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return set()


def _modality(name: str, config: Any) -> tuple[Tensors, str] | None:
    """The tensors for one input of a transformers model (with the attention mask or decoder
    inputs that go with it) and the config attributes they came from."""
    configs = _configs_for(name, config)
    decoder = bool(getattr(config, "is_encoder_decoder", False))
    if name == "input_ids":
        return _tokens(configs, decoder)
    if name == "pixel_values":
        return _pixels(configs)
    if name == "input_values":
        return _audio_values(configs)
    if name == "input_features":
        return _features(configs, decoder)
    return None


def _configs_for(name: str, config: Any) -> list[tuple[str, Any]]:
    """(prefix, config): the model's config, then its sub-configs (`text_config`...), those named
    for the modality first."""
    subs = [
        (f"{key}.", value)
        for key, value in sorted(getattr(config, "__dict__", {}).items())
        if key.endswith("_config") and not key.startswith("_") and hasattr(value, "__dict__")
    ]
    words = MODALITY_CONFIGS.get(name, ())
    subs.sort(key=lambda sub: not any(word in sub[0] for word in words))
    return [("", config), *subs]


def _positive(configs: list[tuple[str, Any]], attribute: str) -> tuple[int, str, Any] | None:
    """(value, where, which config) of the first positive integer `attribute`."""
    for prefix, config in configs:
        value = getattr(config, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, f"{prefix}{attribute}", config
    return None


def _tokens(configs: list[tuple[str, Any]], decoder: bool) -> tuple[Tensors, str] | None:
    found = _positive(configs, "vocab_size")
    if found is None:
        return None
    vocab, where, config = found
    high = min(vocab, 1000)
    positions = getattr(config, "max_position_embeddings", None)
    length = min(SEQUENCE, positions) if isinstance(positions, int) and positions > 0 else SEQUENCE

    def tokens(generator: torch.Generator) -> dict[str, torch.Tensor]:
        ids = torch.randint(0, high, (BATCH, length), generator=generator)
        tensors = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if decoder:
            tensors["decoder_input_ids"] = torch.randint(0, high, (BATCH, max(length // 2, 1)), generator=generator)
        return tensors

    return tokens, where


def _audio_values(configs: list[tuple[str, Any]]) -> tuple[Tensors, str]:
    """A spectrogram of `max_length` frames x `num_mel_bins` (the Audio Spectrogram Transformer),
    else raw audio (wav2vec2, HuBERT...): one second at 16 kHz."""
    bins, frames = _positive(configs, "num_mel_bins"), _positive(configs, "max_length")
    if bins is not None and frames is not None:
        shape = (BATCH, frames[0], bins[0])
        return (
            (lambda generator: {"input_values": torch.randn(shape, generator=generator)}),
            f"input_values: a spectrogram of {frames[1]} x {bins[1]}",
        )
    return (lambda generator: {"input_values": torch.randn(BATCH, 16000, generator=generator)}), "input_values: raw audio"


def _pixels(configs: list[tuple[str, Any]]) -> tuple[Tensors, str]:
    prefix, config = next(((p, c) for p, c in configs if hasattr(c, "image_size")), configs[0])
    size = getattr(config, "image_size", 224)
    # An int, or (height, width) for a non-square input (YOLOS).
    height, width = (size, size) if isinstance(size, int) else (tuple(size)[:2] if size and len(size) >= 2 else (224, 224))
    channels = getattr(config, "num_channels", 3)
    shape = (BATCH, channels, height, width)
    return (lambda generator: {"pixel_values": torch.randn(shape, generator=generator)}), f"{prefix}image_size, num_channels"


def _features(configs: list[tuple[str, Any]], decoder: bool) -> tuple[Tensors, str] | None:
    found = _positive(configs, "num_mel_bins")
    if found is None:
        return None
    bins, where, config = found
    # Whisper's encoder takes exactly 2 x max_source_positions frames.
    positions = getattr(config, "max_source_positions", None)
    frames = 2 * positions if isinstance(positions, int) else 3000
    start = getattr(config, "decoder_start_token_id", None)

    def features(generator: torch.Generator) -> dict[str, torch.Tensor]:
        tensors = {"input_features": torch.randn(BATCH, bins, frames, generator=generator)}
        if decoder:
            tensors["decoder_input_ids"] = torch.full((BATCH, 4), start if isinstance(start, int) else 0)
        return tensors

    return features, f"{where}, max_source_positions"


def _dummy_inputs(model: nn.Module) -> Iterator[tuple[Maker, str]]:
    try:
        dummy = model.dummy_inputs
    except Exception:  # some models' property needs more than the config has
        dummy = None
    if isinstance(dummy, dict) and dummy and all(isinstance(v, torch.Tensor) for v in dummy.values()):
        frozen = {key: value.detach().cpu().clone() for key, value in dummy.items()}
        yield (lambda generator: Inputs(**{k: v.clone() for k, v in frozen.items()})), "the model's dummy_inputs"


# --- timm -----------------------------------------------------------------------------------------


def _timm_candidates(model: nn.Module) -> Iterator[tuple[Maker, str]]:
    for attribute in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attribute, None)
        size = cfg.get("input_size") if isinstance(cfg, dict) else None
        if isinstance(size, (tuple, list)) and len(size) == 3 and all(isinstance(n, int) for n in size):
            shape = (BATCH, *size)
            yield (lambda generator, shape=shape: Inputs(torch.randn(shape, generator=generator))), f"{attribute}['input_size']"
            return


# --- the parameterised layers --------------------------------------------------------------------


def _layer_candidates(model: nn.Module) -> Iterator[tuple[Maker, str]]:
    seen: set[tuple[Any, ...]] = set()
    for path, layer in model.named_modules():
        if not any(True for _ in layer.parameters(recurse=False)):
            continue
        for shape, dtype, high in _shapes_for(layer):
            key = (shape, dtype, high)
            if key in seen:
                continue
            if len(seen) == LAYER_CANDIDATES:
                return
            seen.add(key)
            source = f"{path or 'the model'} ({type(layer).__name__})"
            yield (lambda generator, s=shape, d=dtype, h=high: Inputs(_random(s, d, h, generator))), source


def _shapes_for(layer: nn.Module) -> list[tuple[tuple[int, ...], torch.dtype, int | None]]:
    floating = torch.float32
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        return [((BATCH, layer.in_channels, size, size), floating, None) for size in SPATIAL_2D]
    if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
        shapes = [((BATCH, layer.in_channels, length), floating, None) for length in WAVEFORM]
        if layer.in_channels == 1:  # audio models often take (batch, samples) and add the channel
            shapes += [((BATCH, length), floating, None) for length in WAVEFORM]
        return shapes
    if isinstance(layer, (nn.Conv3d, nn.ConvTranspose3d)):
        return [((BATCH, layer.in_channels, *size), floating, None) for size in SPATIAL_3D]
    if isinstance(layer, nn.Embedding):
        return [((BATCH, SEQUENCE), torch.int64, min(layer.num_embeddings, 1000))]
    if isinstance(layer, nn.Linear):
        return [((BATCH, layer.in_features), floating, None), ((BATCH, SEQUENCE, layer.in_features), floating, None)]
    if isinstance(layer, (nn.RNNBase, nn.MultiheadAttention)):
        first = (BATCH, SEQUENCE) if layer.batch_first else (SEQUENCE, BATCH)
        size = layer.input_size if isinstance(layer, nn.RNNBase) else layer.embed_dim
        return [((*first, size), floating, None)]
    if isinstance(layer, (nn.LayerNorm, nn.RMSNorm)):
        return [((BATCH, SEQUENCE, *layer.normalized_shape), floating, None)]
    if isinstance(layer, nn.BatchNorm1d):
        return [((BATCH, layer.num_features), floating, None)]
    if isinstance(layer, (nn.BatchNorm2d, nn.GroupNorm)):
        channels = layer.num_features if isinstance(layer, nn.BatchNorm2d) else layer.num_channels
        return [((BATCH, channels, size, size), floating, None) for size in SPATIAL_2D]
    return []


def _random(shape: tuple[int, ...], dtype: torch.dtype, high: int | None, generator: torch.Generator) -> torch.Tensor:
    if high is not None:
        return torch.randint(0, high, shape, generator=generator, dtype=dtype)
    return torch.randn(shape, generator=generator, dtype=dtype)


# --- trying a candidate ---------------------------------------------------------------------------


def _meta_copy(model: nn.Module) -> nn.Module | None:
    try:
        return copy.deepcopy(model).to(META)
    except Exception:  # a model that refuses the meta device: candidates run on the CPU
        return None


def _error_of(model: nn.Module, arguments: Inputs) -> BaseException | None:
    try:
        with torch.no_grad():
            model(*arguments, **arguments.kwargs)
    except Exception as exc:
        return exc
    return None


def _meta_cannot_tell(error: BaseException) -> bool:
    """Whether the failure is the meta device's limit rather than the inputs' fault."""
    text = f"{type(error).__name__}: {error}".lower()
    return isinstance(error, NotImplementedError) or "meta" in text or "data-dependent" in text or "item()" in text


def _to(arguments: Inputs, device: torch.device) -> Inputs:
    return Inputs(
        *(a.to(device) if isinstance(a, torch.Tensor) else a for a in arguments),
        **{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in arguments.kwargs.items()},
    )


def describe_inputs(arguments: Inputs) -> str:
    def one(value: Any) -> str:
        if isinstance(value, torch.Tensor):
            return f"{list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
        return repr(value)

    parts = [one(a) for a in arguments] + [f"{k}={one(v)}" for k, v in arguments.kwargs.items()]
    return ", ".join(parts)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:160]}"
