"""The imports a fix needs: added once, where the file's own import style puts them, and never
when the module already has them."""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.fixes import apply_edits, import_edits


def _with_imports(source: str, *imports: str) -> str:
    fixed = apply_edits(source, import_edits(cst.parse_module(source), imports))
    compile(fixed, "<fixed>", "exec")
    return fixed


CASES = {
    # isort/ruff sections: into the standard-library section, in sorted position.
    "sorted-sections": (
        '"""Model."""\n\nimport math\nimport os\nfrom typing import Any\n\nimport torch\nfrom torch import nn\n\nfrom .x import y\n\nx = 1\n',
        '"""Model."""\n\nimport copy\nimport math\nimport os\nfrom typing import Any\n\nimport torch\nfrom torch import nn\n\nfrom .x import y\n\nx = 1\n',
    ),
    # force-sort-within-sections style (`import` and `from` interleaved by module name).
    "sorted-within-sections": (
        "import abc\nfrom collections import deque\nimport os\n\nimport torch\n\nx = 1\n",
        "import abc\nfrom collections import deque\nimport copy\nimport os\n\nimport torch\n\nx = 1\n",
    ),
    # Sections but no standard-library one: a new section before the others, after __future__.
    "new-section": (
        "from __future__ import annotations\n\nimport torch\nfrom torch import nn\n\nx = 1\n",
        "from __future__ import annotations\n\nimport copy\n\nimport torch\nfrom torch import nn\n\nx = 1\n",
    ),
    "future-only": (
        "from __future__ import annotations\n\nx = 1\n",
        "from __future__ import annotations\n\nimport copy\n\nx = 1\n",
    ),
    # One unsorted block or one section of another kind: no style to follow, so append.
    "unsorted": ("import torch\nimport os\n\nx = 1\n", "import torch\nimport os\nimport copy\n\nx = 1\n"),
    "one-third-party-section": ("import torch\n\nx = 1\n", "import torch\nimport copy\n\nx = 1\n"),
    # A comment above an import stays with it.
    "comment-stays": ("import abc\n# why sys\nimport sys\nx = 1\n", "import abc\nimport copy\n# why sys\nimport sys\nx = 1\n"),
    # No imports: after the docstring, or after the licence header (PEP 8 spacing before a def).
    "docstring": ('"""Doc."""\nx = 1\n', '"""Doc."""\n\nimport copy\n\nx = 1\n'),
    "licence": (
        "# licence\n\n# about f\ndef f():\n    pass\n",
        "# licence\n\nimport copy\n\n\n# about f\ndef f():\n    pass\n",
    ),
    "shebang": ("#!/usr/bin/env python\nimport os\nx = 1\n", "#!/usr/bin/env python\nimport copy\nimport os\nx = 1\n"),
    "no-final-newline": ("import torch", "import torch\nimport copy\n"),
    "crlf": ("import os\r\nimport sys\r\nx = 1\r\n", "import copy\r\nimport os\r\nimport sys\r\nx = 1\r\n"),
}


@pytest.mark.parametrize(("source", "expected"), list(CASES.values()), ids=list(CASES))
def test_import_copy_goes_where_the_file_style_puts_it(source, expected):
    assert _with_imports(source, "import copy") == expected


@pytest.mark.parametrize(
    "source",
    [
        "import copy\nx = 1\n",
        "import os, copy\nx = 1\n",
        "x = 1\nimport copy\n",  # anywhere at top level
        "try:\n    import copy\nexcept ImportError:\n    copy = None\n",
    ],
)
def test_an_existing_import_is_never_duplicated(source):
    assert import_edits(cst.parse_module(source), ["import copy"]) == []


def test_an_import_inside_a_function_does_not_count():
    source = "import os\n\ndef f():\n    import copy\n"
    assert _with_imports(source, "import copy").startswith("import copy\nimport os\n")


def test_an_aliased_import_is_a_different_binding():
    assert _with_imports("import copy as c\nx = 1\n", "import copy") == "import copy as c\nimport copy\nx = 1\n"


def test_only_the_missing_names_of_a_from_import_are_added():
    fixed = _with_imports("from typing import Any\n\nx = 1\n", "from typing import Any, Optional")
    assert fixed == "from typing import Any\nfrom typing import Optional\n\nx = 1\n"


def test_a_third_party_import_joins_its_package_section():
    source = "import os\n\nimport numpy as np\nimport torch\n\nx = 1\n"
    assert _with_imports(source, "import torch.nn.functional as F") == (
        "import os\n\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n\nx = 1\n"
    )


def test_several_imports_at_one_place_become_one_edit():
    edits = import_edits(cst.parse_module("import os\nx = 1\n"), ["import sys", "import sysconfig"])
    assert len(edits) == 1
    assert apply_edits("import os\nx = 1\n", edits) == "import os\nimport sys\nimport sysconfig\nx = 1\n"


def test_a_non_import_is_refused():
    with pytest.raises(ValueError, match="not one import statement"):
        import_edits(cst.parse_module("x = 1\n"), ["x = 2"])
