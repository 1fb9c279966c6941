"""A training helper without imports of its own."""

import copy


def fit(model, opt, loader):
    best = copy.deepcopy(model.state_dict())
    for x, y in loader:
        model(x, y).backward()
        opt.step()
    return best
