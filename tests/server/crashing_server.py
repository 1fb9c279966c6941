"""`nnlint server` with a linter that raises on any buffer containing MARKER: a stand-in for a bug
in a rule (the engine itself turns a rule's exception into an error; this one escapes it)."""

from __future__ import annotations

import sys

from nnlint.runner import FileLinter

MARKER = "nnlint-test: crash here"
_lint_text = FileLinter.lint_text


def _crashing_lint_text(self, text, path, module_path=None):  # type: ignore[no-untyped-def]
    if MARKER in text:
        raise RuntimeError("simulated bug in a rule")
    return _lint_text(self, text, path, module_path)


FileLinter.lint_text = _crashing_lint_text  # type: ignore[method-assign]

if __name__ == "__main__":
    from nnlint.server import main

    sys.exit(main([]))
