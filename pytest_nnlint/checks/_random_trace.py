"""Records, through one forward pass, where a model draws random numbers: dropout that stays
active (the NN202 bug in eval mode) apart from deliberate sampling (a VAE's reparameterisation,
a diffusion model's noise, a GAN's latent), which is how those models work in eval mode too."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# Dropout-family functions and the name of their on/off argument, with its default.
_FUNCTIONAL_DROPOUT = {
    F.dropout: ("training", True),
    F.dropout1d: ("training", True),
    F.dropout2d: ("training", True),
    F.dropout3d: ("training", True),
    F.alpha_dropout: ("training", False),
    F.feature_alpha_dropout: ("training", False),
}
# The ATen-level forms take (input, p, train) with `train` required.
_ATEN_DROPOUT = frozenset(
    {torch.dropout, torch.alpha_dropout, torch.feature_dropout, torch.feature_alpha_dropout}
)
_SAMPLERS = frozenset(
    {
        torch.rand, torch.randn, torch.randint, torch.rand_like, torch.randn_like, torch.randint_like,
        torch.normal, torch.bernoulli, torch.multinomial, torch.poisson, torch.randperm,
        torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.bernoulli_, torch.Tensor.bernoulli,
        torch.Tensor.exponential_, torch.Tensor.geometric_, torch.Tensor.log_normal_,
        torch.Tensor.cauchy_, torch.Tensor.random_, torch.Tensor.multinomial,
    }
)


class RandomCalls(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.active_dropout: list[str] = []  # e.g. "F.dropout(p=0.2, training=True)"
        self.samplers: list[str] = []  # e.g. "torch.randn_like"

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _FUNCTIONAL_DROPOUT:
            name, default = _FUNCTIONAL_DROPOUT[func]
            self._dropout(f"F.{func.__name__}", _argument(args, kwargs, 1, "p", 0.5), _argument(args, kwargs, 2, name, default))
        elif func in _ATEN_DROPOUT:
            self._dropout(f"torch.{func.__name__}", _argument(args, kwargs, 1, "p", 0.5), _argument(args, kwargs, 2, "train", True))
        elif func in _SAMPLERS:
            owner = "Tensor" if getattr(torch.Tensor, func.__name__, None) is func else "torch"
            name = f"{owner}.{func.__name__}"
            if name not in self.samplers:
                self.samplers.append(name)
        return func(*args, **kwargs)

    def _dropout(self, name: str, p: Any, training: Any) -> None:
        if training and p:
            text = f"{name}(p={p}, training=True)"
            if text not in self.active_dropout:
                self.active_dropout.append(text)


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default
