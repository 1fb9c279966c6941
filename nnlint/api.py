"""nnlint as a library: lint a file or a string with the project's configuration.

    from nnlint.api import check_file, check_source
    result = check_file("models/net.py")      # honours the closest [tool.nnlint]
    for finding in result.findings:
        print(finding.line, finding.code, finding.message)
    if result.error:                           # None, or one line: why the file was not linted
        print(result.error)

Used by `pytest --nnlint` (pytest_nnlint) and anyone embedding nnlint. Never imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from nnlint.findings import FileResult
from nnlint.settings import Settings, load_settings

_LINTERS: dict[tuple[str | None, str], object] = {}


def _linter_for(settings: Settings, root: Path):  # type: ignore[no-untyped-def]
    from nnlint.registry import Registry
    from nnlint.runner import FileLinter

    key = (settings.config_path, settings.fingerprint())
    linter = _LINTERS.get(key)
    if linter is None:
        linter = _LINTERS[key] = FileLinter(settings, Registry.with_plugins(), [root])
    return linter


def check_file(path: str | os.PathLike[str], settings: Settings | None = None) -> FileResult:
    """Lint one file with the settings of the closest pyproject.toml that has [tool.nnlint]
    (searched from the file's directory), or with ``settings`` when given."""
    path = Path(path)
    if settings is None:
        settings = load_settings(None, start=path.parent if path.parent != Path("") else Path.cwd())
    result = _linter_for(settings, path.resolve().parent).lint_path(os.fspath(path))  # type: ignore[attr-defined]
    return result  # type: ignore[no-any-return]


def check_source(source: str, path: str = "<string>", settings: Settings | None = None) -> FileResult:
    """Lint source text as if it were the file ``path`` (which need not exist)."""
    settings = settings or Settings(project_root=os.getcwd())
    return _linter_for(settings, Path.cwd()).lint_text(source, path)  # type: ignore[attr-defined, no-any-return]
