"""`nnlint server` with a linter that raises on any buffer containing MARKER: a stand-in for a bug
in a rule (the engine itself turns a rule's exception into an error; this one escapes it)."""

from __future__ import annotations

import sys

from nnlint.runner import FileLinter

MARKER = "nnlint-test: crash here"
_lint_source = FileLinter.lint_source


def _crashing_lint_source(self, source):  # type: ignore[no-untyped-def]
    if MARKER in source.text:
        raise RuntimeError("simulated bug in a rule")
    return _lint_source(self, source)


FileLinter.lint_source = _crashing_lint_source  # type: ignore[method-assign]

if __name__ == "__main__":
    from nnlint.server import main

    sys.exit(main([]))
