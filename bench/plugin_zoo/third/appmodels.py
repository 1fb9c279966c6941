import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.prune as prune
from torch.utils.checkpoint import checkpoint


class VAE(nn.Module):
    def __init__(self, d=784, h=64, z=8):
        super().__init__()
        self.enc = nn.Linear(d, h)
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.ReLU(), nn.Linear(h, d))

    def forward(self, x):
        h = F.relu(self.enc(x.flatten(1)))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.dec(z)), mu, logvar


class SNDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.utils.spectral_norm(nn.Conv2d(3, 16, 4, 2, 1))
        self.c2 = nn.utils.spectral_norm(nn.Conv2d(16, 32, 4, 2, 1))
        self.fc = nn.utils.parametrizations.spectral_norm(nn.Linear(32 * 8 * 8, 1))

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.2)
        x = F.leaky_relu(self.c2(x), 0.2)
        return self.fc(x.flatten(1))


class DCGANGenerator(nn.Module):
    def __init__(self, nz=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 64, 4, 1, 0, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(True),
            nn.ConvTranspose2d(32, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.net(z)


class LSTMTagger(nn.Module):
    def __init__(self, vocab=100, emb=16, hid=32, tags=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hid, num_layers=2, batch_first=True, dropout=0.2, bidirectional=True)
        self.out = nn.Linear(2 * hid, tags)

    def forward(self, tokens):
        out, _ = self.lstm(self.emb(tokens))
        return F.log_softmax(self.out(out), dim=-1)


class TiedLM(nn.Module):
    def __init__(self, vocab=200, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.layer = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 64, batch_first=True), 2)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.emb.weight
        self.register_buffer("pos", torch.randn(1, 64, d) * 0.02)

    def forward(self, ids):
        x = self.emb(ids) + self.pos[:, : ids.shape[1]]
        return self.head(self.layer(x))


class WeightNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.utils.parametrizations.weight_norm(nn.Linear(20, 40))
        self.b = nn.utils.weight_norm(nn.Linear(40, 3))  # noqa: NN802 - application code still uses the old API; the zoo keeps it

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


class DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = nn.ModuleDict({"cls": nn.Linear(8, 10), "reg": nn.Linear(8, 4)})
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        f = self.drop(self.backbone(x))
        return {k: h(f) for k, h in self.heads.items()}


class GRUSeq2One(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(12, 24, batch_first=True)
        self.fc = nn.Linear(24, 1)

    def forward(self, x):
        _, h = self.gru(x)
        return self.fc(h[-1])


class MHAPool(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, d))
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True, dropout=0.1)
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(16, d)

    def forward(self, x):
        x = self.proj(x)
        q = self.query.expand(x.shape[0], -1, -1)
        out, _ = self.attn(q, x, x)
        return self.norm(out.squeeze(1))


class UNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.d1 = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU())
        self.d2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.GroupNorm(4, 16), nn.SiLU())
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.out = nn.Conv2d(16, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(a)
        return self.out(torch.cat([self.up(b), a], 1))


class Pruned(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 10)
        prune.l1_unstructured(self.fc1, "weight", amount=0.5)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class Checkpointed(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(32, 32), nn.GELU()) for _ in range(3))
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return self.head(x)


class EMAWrapper(nn.Module):
    """Model plus an EMA copy used at eval time (a common app pattern)."""
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
        self.ema = copy.deepcopy(self.model)
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.model(x) if self.training else self.ema(x)


class FrozenBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.backbone.requires_grad_(False)
        self.head = nn.Linear(8, 5)

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x):
        return self.head(self.backbone(x))


class ParamDictModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.scales = nn.ParameterDict({"a": nn.Parameter(torch.ones(16)), "b": nn.Parameter(torch.zeros(16))})
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(x * self.scales["a"] + self.scales["b"])


class PaddedEmbeddingClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(500, 32, padding_idx=0)
        self.conv = nn.Conv1d(32, 32, 3, padding=1)
        self.fc = nn.Linear(32, 2)

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)
        x = F.relu(self.conv(x)).max(dim=-1).values
        return self.fc(x)


class PositionalTransformer(nn.Module):
    def __init__(self, d=32, max_len=128):
        super().__init__()
        pe = torch.zeros(max_len, d)
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d, 2) * (-torch.log(torch.tensor(10000.0)) / d))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe, persistent=False)
        self.emb = nn.Embedding(100, d)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 64, dropout=0.1, batch_first=True), 2, enable_nested_tensor=False)
        self.out = nn.Linear(d, 100)

    def forward(self, ids):
        x = self.emb(ids) + self.pe[: ids.shape[1]]
        return self.out(self.enc(x))


class SiameseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 16))

    def forward(self, a, b):
        return F.pairwise_distance(self.net(a), self.net(b))


class GumbelQuantizer(nn.Module):
    """Discrete latent via Gumbel-softmax: samples in train, argmax in eval."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 8)
        self.codebook = nn.Embedding(8, 16)

    def forward(self, x):
        logits = self.proj(x)
        if self.training:
            soft = F.gumbel_softmax(logits, tau=1.0, hard=True)
        else:
            soft = F.one_hot(logits.argmax(-1), 8).float()
        return soft @ self.codebook.weight


class SEResBlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 4, 1), nn.ReLU(), nn.Conv2d(4, 16, 1), nn.Sigmoid())
        self.drop = nn.Dropout2d(0.1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.drop(x * self.se(x))
        return self.head(x.mean((2, 3)))


class InstanceNormStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.n1 = nn.InstanceNorm2d(16, affine=True, track_running_stats=True)
        self.c2 = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.c2(F.relu(self.n1(self.c1(x)))))


class MoEFFN(nn.Module):
    """Top-1 routing: with a small batch some experts get no tokens."""
    def __init__(self, d=16, experts=4):
        super().__init__()
        self.router = nn.Linear(d, experts)
        self.experts = nn.ModuleList(nn.Linear(d, d) for _ in range(experts))

    def forward(self, x):
        choice = self.router(x).argmax(-1)
        gate = self.router(x).softmax(-1)
        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            mask = choice == i
            if mask.any():
                out[mask] = expert(x[mask]) * gate[mask][:, i:i + 1]
        return out
