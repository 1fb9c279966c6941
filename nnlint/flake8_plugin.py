"""nnlint as a flake8 plugin, for teams that already run flake8: findings appear with their nnlint
codes (``NN101 ...``) beside flake8's own.

The rules that run are the ones ``nnlint`` would run on the file under its ``[tool.nnlint]``
configuration (the closest pyproject.toml), including installed rule packs; flake8's
``--select``/``--ignore``/``# noqa`` then decide what is shown, as for any plugin. Syntax errors are
left to flake8 (E999). Registered by the ``flake8.extension`` entry point ``NN``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nnlint import __version__

# Configuration problems and files nnlint could not analyse (other than syntax errors).
ERROR_CODE = "NN001"


class Flake8Plugin:
    name = "nnlint"
    version = __version__

    # One FileLinter per configuration file, reused for every file in this flake8 process.
    _linters: dict[str | None, Any] = {}

    def __init__(self, tree: ast.AST, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        try:
            linter = self._linter()
        except Exception as exc:  # a bad [tool.nnlint] table or rule pack: say so once per file
            yield 1, 0, f"{ERROR_CODE} nnlint cannot run: {exc}", type(self)
            return
        path = self.filename
        module_path = None if path in ("-", "stdin") else Path(path)
        result = linter.lint_text("".join(self.lines), path, module_path)
        for finding in result.findings:
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)
        for error in result.errors:
            if error.kind != "syntax":
                yield error.line or 1, max((error.column or 1) - 1, 0), f"{ERROR_CODE} {error.message}", type(self)

    def _linter(self) -> Any:
        from nnlint.registry import Registry
        from nnlint.runner import FileLinter
        from nnlint.settings import find_config, load_settings

        start = Path(self.filename).resolve().parent if self.filename not in ("-", "stdin") else Path.cwd()
        config = find_config(start)
        key = str(config) if config else None
        linter = self._linters.get(key)
        if linter is None:
            settings = load_settings(config, start=start)
            linter = self._linters[key] = FileLinter(settings, Registry.with_plugins(), [Path(settings.project_root)])
        return linter
