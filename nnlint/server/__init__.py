"""`nnlint server`: a Language Server Protocol server over stdio, for editors.

Needs the ``server`` extra (pygls): ``pip install 'nnlint[server]'``. The linter and the
pre-commit hook never import this package. Modules, one concern each:

- core.py: the one door into nnlint's linter (settings, lint, fix, rule docs; no LSP);
- documents.py: what is linted as one (a .py document or a notebook), frozen at a version;
- protocol.py: nnlint's values as LSP values (positions, diagnostics, edits);
- publishing.py: a lint outcome as per-document diagnostics, kept for actions and hovers;
- actions.py: quick fixes, noqa, fix-all;
- scheduler.py: debounce, the lint thread, stale work dropped;
- server.py: the LSP handlers that tie them together.
"""

from __future__ import annotations

import sys

USAGE = "usage: nnlint server  (a language server speaking LSP on stdin/stdout; see docs/integrations.md)\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if argv:
        sys.stderr.write(f"nnlint server: error: unexpected arguments: {' '.join(argv)}\n{USAGE}")
        return 2
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError:
        sys.stderr.write("nnlint server needs pygls: pip install 'nnlint[server]'\n")
        return 2
    import gc

    from nnlint.server.server import build_server

    # As the CLI does (nnlint/cli.py, collect_garbage_rarely): parsing allocates many LibCST nodes
    # that the default collector thresholds keep re-examining; the server owns its process.
    gc.set_threshold(200_000, 30, 30)
    server = build_server()
    server.start_io()  # returns after `exit` (pygls swallows the SystemExit carrying its status)
    return 0 if server.shutdown_requested else 1
