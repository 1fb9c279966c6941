"""`pytest --nnlint`: the static linter as test items, one per collected .py file.

A file that passed is skipped on later runs until its content, the nnlint version or the
`[tool.nnlint]` settings change (pytest's cache holds the signature). The linter is imported only
when an item runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_nnlint.config import read_pyproject
from pytest_nnlint.spec import SpecError

CACHE_PREFIX = "nnlint/lint/"
_SETTINGS_DIGEST = pytest.StashKey[str]()


class LintError(Exception):
    """nnlint could not lint the file (or is not installed)."""


class LintFindings(Exception):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class LintFile(pytest.File):
    def collect(self) -> list[LintItem]:
        return [LintItem.from_parent(self, name="nnlint")]


class LintItem(pytest.Item):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_marker("nnlint")
        self.add_marker("nnlint_lint")
        self._signature: list[str] | None = None
        # Plugins that wrap pytest_runtest_call may assume every item has fixtures (pytest-lsp
        # 1.x returns without yielding otherwise, which breaks the run): these items have none.
        self.funcargs: dict[str, object] = {}

    @property
    def cache_key(self) -> str:
        return CACHE_PREFIX + hashlib.sha256(str(self.path).encode()).hexdigest()[:24]

    def setup(self) -> None:
        self._signature = lint_signature(self.path, self.config)
        cache = getattr(self.config, "cache", None)
        if cache is not None and cache.get(self.cache_key, None) == self._signature:
            pytest.skip("unchanged since it last passed nnlint")

    def runtest(self) -> None:
        try:
            from nnlint.api import check_file
        except ImportError as exc:
            raise LintError(f"--nnlint needs the nnlint linter (nnlint.api): {exc}") from None
        result = check_file(self.path)
        if result.error:
            raise LintError(f"nnlint could not lint {self._relative_path()}: {result.error}")
        if result.findings:
            raise LintFindings(
                [
                    f"{self._relative_path()}:{finding.line}:{finding.column}: {finding.code} "
                    f"[{finding.name}] {finding.message}"
                    for finding in result.findings
                ]
            )
        cache = getattr(self.config, "cache", None)
        if cache is not None and self._signature is not None:
            cache.set(self.cache_key, self._signature)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, LintFindings):
            count = len(excinfo.value.lines)
            return "\n".join([f"nnlint found {count} problem{'s' if count != 1 else ''}:", *excinfo.value.lines])
        if isinstance(excinfo.value, LintError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "nnlint"

    def _relative_path(self) -> str:
        try:
            return self.path.relative_to(self.config.rootpath).as_posix()
        except ValueError:
            return str(self.path)


def lint_signature(path: Path, config: pytest.Config) -> list[str]:
    """What a cached pass depends on: the file's content, nnlint's version, the settings."""
    try:
        import nnlint

        version = str(getattr(nnlint, "__version__", "unknown"))
    except ImportError:
        version = "missing"
    content = hashlib.sha256(path.read_bytes()).hexdigest()
    return [content, version, _settings_digest(config)]


def _settings_digest(config: pytest.Config) -> str:
    if _SETTINGS_DIGEST not in config.stash:
        settings: Any = {}
        pyproject = config.rootpath / "pyproject.toml"
        if pyproject.is_file():
            try:
                settings = dict(read_pyproject(pyproject).get("tool", {}).get("nnlint", {}))
            except SpecError as exc:
                settings = str(exc)
            if isinstance(settings, dict):
                settings.pop("models", None)  # the runtime half's table does not affect linting
        text = json.dumps(settings, sort_keys=True, default=str)
        config.stash[_SETTINGS_DIGEST] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return config.stash[_SETTINGS_DIGEST]
