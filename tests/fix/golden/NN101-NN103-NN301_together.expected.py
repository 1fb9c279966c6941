from __future__ import annotations

import copy

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.register_buffer('offset', torch.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) + self.offset


def fit(model, opt, loader):
    start = copy.deepcopy(model.state_dict())
    best = copy.deepcopy(model.state_dict())
    for x, y in loader:
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        opt.step()
    return start, best
