import torch
import torch.nn as nn
import torch.nn.functional as F


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
