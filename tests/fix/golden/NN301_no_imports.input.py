"""A training helper without imports of its own."""


def fit(model, opt, loader):
    best = model.state_dict()
    for x, y in loader:
        model(x, y).backward()
        opt.step()
    return best
