"""``[tool.nnlint]`` in pyproject.toml + command-line flags -> one validated, hashable Settings.

Command-line flags win over the file. Every problem is a ``ConfigError`` whose message names the
file, the key and the value, so the CLI can print it on one line and exit 2.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".eggs", "build", "dist",
    "__pycache__", "node_modules", "site-packages", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".nnlint_cache", "__pypackages__", "_build", "buck-out",
)  # fmt: skip
OUTPUT_FORMATS = ("text", "concise", "full", "json", "json-lines", "sarif", "github", "grouped")


class ConfigError(Exception):
    """A configuration or command-line problem; the message is one line."""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] | None = None  # None: the rules that are on by default
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    force_exclude: bool = False
    output_format: str = "text"
    jobs: int | None = None
    cache_dir: str | None = None
    extend_module_bases: tuple[str, ...] = ()
    torch_version: str | None = None  # "2.4": NN8xx deprecation findings as of that release; None: current
    # Where the settings came from (not part of the hash: moving the file changes nothing).
    config_path: str | None = field(default=None, compare=False)
    project_root: str = field(default=".", compare=False)

    def fingerprint(self) -> str:
        """A stable hash of everything that changes what nnlint reports."""
        data = asdict(self)
        for key in ("config_path", "project_root", "output_format", "jobs", "cache_dir"):
            data.pop(key)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# -- reading pyproject.toml -------------------------------------------------------------------

_LIST_KEYS = {
    "select": "select",
    "extend-select": "extend_select",
    "ignore": "ignore",
    "exclude": "exclude",
    "extend-exclude": "extend_exclude",
    "extend-module-bases": "extend_module_bases",
}
_BOOL_KEYS = {"respect-gitignore": "respect_gitignore", "force-exclude": "force_exclude"}
# Read by pytest_nnlint, not by the linter.
_PLUGIN_KEYS = frozenset({"models", "plugin"})


def find_config(start: Path) -> Path | None:
    """The closest pyproject.toml at or above ``start`` that has a ``[tool.nnlint]`` table."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = _load_toml(candidate)
            except ConfigError:
                raise
            if "nnlint" in data.get("tool", {}):
                return candidate
    return None


def _load_toml(path: Path) -> dict[str, Any]:
    # Imported here: a run with no pyproject.toml above the linted files never needs a TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10
        import tomli as tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _string_list(path: Path, key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: [tool.nnlint] {key} = {value!r}: expected a list of strings")
    return tuple(value)


def settings_from_table(path: Path, table: dict[str, Any]) -> dict[str, Any]:
    """Validate a ``[tool.nnlint]`` table into Settings keyword arguments."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _LIST_KEYS:
            values[_LIST_KEYS[key]] = _string_list(path, key, value)
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: [tool.nnlint] {key} = {value!r}: expected true or false")
            values[_BOOL_KEYS[key]] = value
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [tool.nnlint] per-file-ignores = {value!r}: expected a table of pattern = [codes]")
            values["per_file_ignores"] = tuple(
                (pattern, _string_list(path, f"per-file-ignores.{pattern!r}", codes)) for pattern, codes in value.items()
            )
        elif key == "output-format":
            if value not in OUTPUT_FORMATS:
                raise ConfigError(
                    f"{path}: [tool.nnlint] output-format = {value!r}: expected one of {', '.join(OUTPUT_FORMATS)}"
                )
            values["output_format"] = value
        elif key == "jobs":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{path}: [tool.nnlint] jobs = {value!r}: expected a positive integer")
            values["jobs"] = value
        elif key == "cache-dir":
            if not isinstance(value, str):
                raise ConfigError(f"{path}: [tool.nnlint] cache-dir = {value!r}: expected a path")
            values["cache_dir"] = str((path.parent / value))
        elif key == "torch-version":
            values["torch_version"] = _torch_version(path, value)
        elif key in _PLUGIN_KEYS:
            continue
        else:
            known = ", ".join(sorted([*_LIST_KEYS, *_BOOL_KEYS, "per-file-ignores", "output-format", "jobs", "cache-dir", "torch-version", *_PLUGIN_KEYS]))
            raise ConfigError(f"{path}: [tool.nnlint] unknown key {key!r} (known keys: {known})")
    return values


def _torch_version(path: Path, value: object) -> str:
    """``"2.4"`` or ``"2.4.1"``: the torch release whose deprecations NN802 reports."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]+\.[0-9]+(\.[0-9]+)?", value.strip()):
        raise ConfigError(
            f"{path}: [tool.nnlint] torch-version = {value!r}: expected a torch release as a string, like \"2.4\""
        )
    return value.strip()


def load_settings(config: Path | None, isolated: bool = False, start: Path | None = None) -> Settings:
    """Settings from ``config`` (or the closest pyproject.toml with [tool.nnlint]), or defaults."""
    if isolated:
        return Settings(project_root=str((start or Path.cwd()).resolve()))
    if config is None:
        config = find_config(start or Path.cwd())
    elif not config.is_file():
        raise ConfigError(f"{config}: configuration file not found")
    if config is None:
        return Settings(project_root=str((start or Path.cwd()).resolve()))
    data = _load_toml(config)
    table = data.get("tool", {}).get("nnlint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config}: [tool.nnlint] must be a table")
    values = settings_from_table(config, table)
    return Settings(config_path=str(config), project_root=str(config.parent.resolve()), **values)


def with_overrides(settings: Settings, **overrides: Any) -> Settings:
    """Apply command-line values (None means 'not given')."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return replace(settings, **given)
