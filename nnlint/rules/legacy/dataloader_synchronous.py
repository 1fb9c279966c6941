from __future__ import annotations

import libcst as cst

from nnlint.patterns import keyword
from nnlint.rule import Rule

_DATALOADER = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_NUM_WORKERS_POSITION = 5  # DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, ...)


class DataloaderSynchronous(Rule):
    code = "NN809"
    name = "dataloader-synchronous"
    summary = "a `DataLoader` that loads batches in the training process (`num_workers` 0 or unset)"
    what = (
        "Flags `torch.utils.data.DataLoader(...)` built without `num_workers` or with the literal "
        "`num_workers=0` (also as the sixth positional argument). Values that are not literals "
        "and `**kwargs` stay silent. Off by default: small in-memory datasets, tests, notebooks "
        "and evaluation loaders are often right to load synchronously."
    )
    why = (
        "With `num_workers=0` every batch is read, decoded and augmented in the training process "
        "while the GPU waits; with workers the next batches are prepared in parallel. For image "
        "and audio pipelines this is often the largest speed-up available."
    )
    use_instead = "from torch.utils.data import DataLoader\n\nloader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=4, pin_memory=True)\n"
    default_enabled = False
    triggers = ("DataLoader",)
    VALID = [
        "from torch.utils.data import DataLoader\n\nloader = DataLoader(ds, batch_size=32, num_workers=8)\n",
        # Decided elsewhere.
        "from torch.utils.data import DataLoader\n\nloader = DataLoader(ds, batch_size=32, num_workers=args.workers)\n",
        "from torch.utils.data import DataLoader\n\ndef make(ds, **kw):\n    return DataLoader(ds, **kw)\n",
        # Another library's DataLoader.
        "from torch_geometric.loader import DataLoader\n\nloader = DataLoader(graphs, batch_size=32)\n",
    ]
    INVALID = [
        "import torch\n\nloader = torch.utils.data.DataLoader(dataset, batch_size=10)  # error\n",
        "from torch.utils.data import DataLoader\n\nloader = DataLoader(dataset, batch_size=10, num_workers=0)  # error\nloader = DataLoader(dataset, 10, False, None, None, 0)  # error\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.qualified_name(node.func) not in _DATALOADER or any(a.star for a in node.args):
            return
        arg = keyword(node, "num_workers")
        if arg is None:
            positional = [a for a in node.args if a.keyword is None]
            if len(positional) > _NUM_WORKERS_POSITION:
                arg = positional[_NUM_WORKERS_POSITION]
        if arg is None:
            what = "without `num_workers`"
        elif isinstance(arg.value, cst.Integer) and arg.value.value == "0":
            what = "with `num_workers=0`"
        else:
            return
        self.report(
            node,
            f"`DataLoader` {what} loads every batch in the training process while the model waits; "
            "pass `num_workers=` greater than 0 (e.g. the number of CPU cores) to load batches in parallel",
        )
