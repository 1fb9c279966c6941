from __future__ import annotations

from nnlint.rule import Invalid
from nnlint.rules.legacy._symbols import SymbolRule, triggers_for


class NonpublicTorchApi(SymbolRule):
    code = "NN805"
    name = "nonpublic-torch-api"
    summary = "a private torch function that has a public equivalent"
    what = (
        "Flags uses and imports of private torch functions that torch also exports publicly: "
        "`torch.utils.data._utils.collate.default_collate` and `default_convert` "
        "(-> `torch.utils.data.default_collate` / `default_convert`). The list is data "
        "(`nnlint/data/deprecations.toml`, status `nonpublic`)."
    )
    why = (
        "Modules and names with a leading underscore are torch internals: they move or change "
        "without a deprecation period. The public name is the same function and is kept stable."
    )
    use_instead = "from torch.utils.data import default_collate\n\nbatch = default_collate(samples)\n"
    fix_safety = "Safe: the public name is the same function object."
    fix_availability = "safe"
    triggers = triggers_for(("nonpublic",))
    statuses = ("nonpublic",)
    VALID = [
        "from torch.utils.data import default_collate, default_convert\n\nbatch = default_collate(samples)\n",
        "import torch\n\nbatch = torch.utils.data.default_collate(samples)\n",
        # The user's own helper of the same name.
        "def default_collate(batch):\n    return batch\n\nout = default_collate([1])\n",
    ]
    INVALID = [
        Invalid(
            "from torch.utils.data._utils.collate import default_collate  # error\n\ninputs, labels = default_collate(inputs), default_collate(labels)  # error\n",
            fixed="from torch.utils.data import default_collate  # error\n\ninputs, labels = default_collate(inputs), default_collate(labels)  # error\n",
        ),
        Invalid(
            "import torch\n\nvalues = torch.utils.data._utils.collate.default_convert(values)  # error\n",
            fixed="import torch\n\nvalues = torch.utils.data.default_convert(values)  # error\n",
        ),
    ]
