import torch
from torch import nn


class Rotary(nn.Module):
    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        self.mask = torch.ones(
            dim,
            dim,
        ).tril()
        self.scale: torch.Tensor = torch.tensor(dim**-0.5)
        self.register_buffer('freqs', torch.randn(dim // 2).float(), persistent=False)
        self.register_buffer('window', torch.zeros(dim, 2), persistent=False)
        self.cache = None

    def forward(self, x):
        return x * self.scale
