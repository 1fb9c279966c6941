from __future__ import annotations

from nnlint.rule import Invalid
from nnlint.rules.legacy._symbols import SymbolRule, triggers_for


class RemovedTorchApi(SymbolRule):
    code = "NN801"
    tags = frozenset({"deprecated"})
    name = "removed-torch-api"
    summary = "a function that torch has removed (calling it raises)"
    what = (
        "Flags calls, references and imports of torch functions that have been removed "
        "(`torch.solve`, `torch.symeig`, `torch.eig`, `torch.lstsq`, `torch.matrix_rank`, the "
        "members of `torch._six`), however they were imported. The list is data "
        "(`nnlint/data/deprecations.toml`), with the version that removed each function and what "
        "to write instead. Removed functions are flagged whatever `torch-version` says. Code in "
        "an `except ImportError/AttributeError:` handler or under a version check stays silent: "
        "that is a fallback for old torch."
    )
    why = (
        "These functions were deprecated in torch 1.9 and now only raise `RuntimeError` (or no "
        "longer exist): the line fails the first time it runs, often deep into a job, in code "
        "copied from an old tutorial or repository. Their replacements in `torch.linalg` differ "
        "in argument order and results (`torch.linalg.solve(A, B)` takes the matrix first and "
        "returns only the solution), so the migration needs a look at each call."
    )
    use_instead = "import torch\n\nX = torch.linalg.solve(A, B)\neigenvalues, eigenvectors = torch.linalg.eigh(A, UPLO=\"U\")\n"
    fix_safety = (
        "No fix: none of the removed functions has a replacement with the same arguments and "
        "results; the message says how each call changes."
    )
    triggers = triggers_for(("removed",))
    statuses = ("removed",)
    VALID = [
        "import torch\n\nX = torch.linalg.solve(A, B)\nL = torch.linalg.eigvalsh(A)\n",
        # Other libraries' functions of the same name.
        "import numpy as np\nimport scipy.linalg\n\nx = np.linalg.solve(a, b)\nw, v = scipy.linalg.eig(a)\ny = sympy.solve(expr)\n",
        # A fallback for old torch.
        "import torch\n\ntry:\n    solve = torch.linalg.solve\nexcept AttributeError:\n    solve = torch.solve\n",
        # A method of the user's own object.
        "class Solver:\n    def solve(self, a, b):\n        return a\n\nx = Solver().solve(1, 2)\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n\ndef fit(A, b):\n    return torch.solve(b, A).solution  # error\n",
        ),
        Invalid(
            "import torch\nfrom torch import symeig as eigen  # error\n\nE, V = eigen(A, eigenvectors=True)  # error\nrank = torch.matrix_rank(A)  # error\n",
        ),
        Invalid("from torch._six import inf, string_classes  # error\n"),
    ]
