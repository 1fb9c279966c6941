from __future__ import annotations

from nnlint.rule import Invalid
from nnlint.rules.legacy._symbols import SymbolRule, triggers_for


class DeprecatedTorchApi(SymbolRule):
    code = "NN802"
    tags = frozenset({"deprecated"})
    name = "deprecated-torch-api"
    summary = "a deprecated torch function or class with a documented replacement"
    what = (
        "Flags calls, references and imports of deprecated torch APIs that have a documented "
        "replacement: `torch.cuda.amp.autocast` / `GradScaler` / `custom_fwd` / `custom_bwd` and "
        "`torch.cpu.amp.*` (-> `torch.amp`), `torch.nn.utils.weight_norm` (-> "
        "`parametrizations.weight_norm`), `torch.backends.cuda.sdp_kernel` (-> "
        "`torch.nn.attention.sdpa_kernel`), `torch.chain_matmul`, `torch.cholesky`, `torch.qr`, "
        "`torch.range`, `torch.ger`, `torch.lu`, `torch.lu_solve`, `torch.triangular_solve`, "
        "`torch.testing.assert_allclose`, `nn.UpsamplingNearest2d` / `UpsamplingBilinear2d`, "
        "`F.upsample*`, `functorch.*` (-> `torch.func`) and "
        "`torch.utils._pytree._register_pytree_node`. The table is data "
        "(`nnlint/data/deprecations.toml`): each entry has the version that deprecated it, and "
        "with `torch-version = \"X.Y\"` in `[tool.nnlint]` only what is deprecated at X.Y is "
        "flagged (a library that supports torch 2.1 keeps `torch.cuda.amp.autocast`, which "
        "`torch.amp` replaced in 2.4). Code in an `except ImportError/AttributeError:` handler "
        "or under a version check stays silent."
    )
    why = (
        "Deprecated APIs warn on every run (or once per process), hide real warnings in the "
        "noise, and are removed in a later release: the code then breaks when torch is upgraded. "
        "Several replacements differ in more than the name -- `torch.range` includes its end "
        "point and `torch.arange` does not, `torch.qr(some=False)` is "
        "`torch.linalg.qr(mode=\"complete\")` -- so a mechanical rename is not always right; the "
        "fix applies each entry's argument mapping."
    )
    use_instead = (
        "import torch\n\nscaler = torch.amp.GradScaler(\"cuda\")\nwith torch.amp.autocast(\"cuda\", dtype=torch.bfloat16):\n"
        "    loss = model(x)\nQ, R = torch.linalg.qr(A, mode=\"complete\")\n"
    )
    fix_safety = (
        "Safe where the table's argument mapping is exact: `torch.cuda.amp.autocast(...)` -> "
        "`torch.amp.autocast(\"cuda\", ...)`, `GradScaler` likewise, `custom_fwd` -> "
        "`torch.amp.custom_fwd(..., device_type=\"cuda\")`, `torch.chain_matmul(a, b, c)` -> "
        "`torch.linalg.multi_dot([a, b, c])`, `torch.cholesky(A, upper=True)` -> "
        "`torch.linalg.cholesky(A).mH`, `torch.qr(A, some=False)` -> "
        "`torch.linalg.qr(A, mode=\"complete\")`, `torch.ger` -> `torch.outer`, "
        "`functorch.vmap` -> `torch.func.vmap`, `nn.UpsamplingNearest2d(...)` -> "
        "`nn.Upsample(..., mode=\"nearest\")`; imports are rewritten too when every use of the "
        "name is rewritten with them. Unsafe: `torch.range(a, b)` -> `torch.arange(a, b + 1)` "
        "(`torch.range` returns floats by default, `torch.arange` of integers returns int64) and "
        "`torch.nn.utils.weight_norm` -> `torch.nn.utils.parametrizations.weight_norm` (new "
        "state_dict keys). No fix where the mapping does not cover a call (a non-literal "
        "`upper=`, `torch.range` with a non-literal step, `sdp_kernel`'s flags)."
    )
    fix_availability = "safe"
    triggers = triggers_for(("deprecated",))
    statuses = ("deprecated",)
    VALID = [
        "import torch\n\nscaler = torch.amp.GradScaler(\"cuda\")\nwith torch.autocast(\"cuda\"):\n    y = model(x)\n",
        # The replacements themselves.
        "import torch\nfrom torch.func import vmap\n\nQ, R = torch.linalg.qr(A)\nx = torch.arange(0, 10)\nm = torch.linalg.multi_dot([a, b, c])\n",
        # Another library's `range` / `autocast`.
        "import jax\nimport mylib.cuda.amp as amp\n\nfor i in range(3):\n    pass\nwith amp.autocast():\n    pass\n",
        # A fallback for torch versions without torch.amp.
        "import torch\n\ntry:\n    from torch.amp import GradScaler\nexcept ImportError:\n    from torch.cuda.amp import GradScaler\n",
        "import torch\n\nif hasattr(torch, \"amp\"):\n    ctx = torch.amp.autocast(\"cuda\")\nelse:\n    ctx = torch.cuda.amp.autocast()\n",
        # The old API as the default of a compatibility switch (transformers' audio models).
        "from torch import nn\n\nclass Conv(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        weight_norm = nn.utils.weight_norm\n"
        "        if hasattr(nn.utils.parametrizations, \"weight_norm\"):\n"
        "            weight_norm = nn.utils.parametrizations.weight_norm\n"
        "        self.conv = weight_norm(nn.Conv1d(4, 4, 3), name=\"weight\", dim=2)\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\nscaler = torch.cuda.amp.GradScaler()  # error\nfor x, y in loader:\n    with torch.cuda.amp.autocast(dtype=torch.bfloat16):  # error\n        loss = model(x)\n",
            fixed="import torch\n\nscaler = torch.amp.GradScaler(\"cuda\")  # error\nfor x, y in loader:\n    with torch.amp.autocast(\"cuda\", dtype=torch.bfloat16):  # error\n        loss = model(x)\n",
        ),
        Invalid(
            "import torch as th\n\nQ, R = th.qr(A, some=False)  # error\nU = th.cholesky(A, True)  # error\nM = th.chain_matmul(a, b, c)  # error\n",
            fixed="import torch as th\n\nQ, R = th.linalg.qr(A, mode=\"complete\")  # error\nU = th.linalg.cholesky(A).mH  # error\nM = th.linalg.multi_dot([a, b, c])  # error\n",
        ),
        Invalid(
            "from functorch import vmap, grad  # error\n\nbatched = vmap(grad(loss_fn))(params)  # error\n",
            fixed="from torch.func import vmap, grad  # error\n\nbatched = vmap(grad(loss_fn))(params)  # error\n",
        ),
        Invalid(
            "import torch\nfrom torch import ger  # error\n\nfreqs = ger(positions, inv_freq)  # error\n",
            fixed="import torch\nfrom torch import outer  # error\n\nfreqs = outer(positions, inv_freq)  # error\n",
        ),
        Invalid(
            "import torch\n\nclass Scale(torch.autograd.Function):\n    @staticmethod\n    @torch.cuda.amp.custom_fwd  # error\n    def forward(ctx, x):\n        return x * 2\n",
            fixed="import torch\n\nclass Scale(torch.autograd.Function):\n    @staticmethod\n    @torch.amp.custom_fwd(device_type=\"cuda\")  # error\n    def forward(ctx, x):\n        return x * 2\n",
        ),
        Invalid(
            "from torch import nn\n\nup = nn.UpsamplingBilinear2d(scale_factor=2)  # error\nwith torch.backends.cuda.sdp_kernel(enable_math=False):  # error\n    pass\n",
        ),
    ]
