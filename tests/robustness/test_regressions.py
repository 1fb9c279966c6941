"""Inputs that once made nnlint fail (found by bench/sweep.py or the long fuzz profile), each kept
as the smallest snippet that showed the bug."""

from __future__ import annotations

import dataclasses

from nnlint.fixing import fix_text
from tests.conftest import lint_snippet

UNREGISTERED_TENSOR = (
    "import torch\nimport torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
    "        super().__init__()\n        self.t = torch.zeros(3)\n"
)


def fix_everything(source: str):
    return fix_text(source, "snippet.py", lint_snippet, lambda fix: fix is not None)


def test_fix_is_applied_when_the_original_already_fails_to_compile():
    # LibCST parses `return` outside a function, CPython's compile() rejects it: the fix did not
    # cause that, so it must not be blamed for it (the fuzzer found this).
    source = UNREGISTERED_TENSOR + "\nreturn\n"
    outcome = fix_everything(source)
    assert outcome.failure is None, outcome.failure
    assert outcome.applied == {"NN103": 1}
    assert "register_buffer" in outcome.text and outcome.text.endswith("\nreturn\n")


def test_fix_that_breaks_compilation_of_a_valid_file_is_still_refused(monkeypatch):
    from nnlint import fixing

    source = UNREGISTERED_TENSOR
    real_apply = fixing.apply_fixes

    def breaking_apply(text, fixes):  # a fix with a bug: it appends a statement CPython rejects
        return dataclasses.replace(real_apply(text, fixes), text=real_apply(text, fixes).text + "\nreturn\n")

    monkeypatch.setattr(fixing, "apply_fixes", breaking_apply)
    outcome = fix_everything(source)
    assert outcome.text == source
    assert outcome.failure is not None
    assert "fix for NN103 would make the file invalid" in outcome.failure.message
    assert "'return' outside function" in outcome.failure.message
