from copy import deepcopy

import torch


def fit(model, opt, loader):
    snapshot = dict(model.state_dict())
    for x, y in loader:
        model(x, y).backward()
        opt.step()
    return snapshot
