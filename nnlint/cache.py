"""The results cache: an unchanged file under unchanged settings and an unchanged nnlint is answered
with last run's findings, without parsing it.

Layout (plain JSON files, never pickle; a cache directory can be shared and read by anyone)::

    .nnlint_cache/                      beside the closest pyproject.toml, or in the cwd
        CACHEDIR.TAG  .gitignore        (backup tools and git skip it)
        <nnlint version>/
            results-<settings key>/<hash of the file's path>.json
            summaries/<hash of the file's path>.json

A result entry holds the file's content hash, the build of nnlint that wrote it, the enabled rules
and the file's module name, and -- for each other module its class checks consulted -- which file
that was (or that none existed) and that file's content hash. All of them must still match for a
hit. A summary entry (the imports and class bases of a file that others inherit from) is keyed the
same way by the file's content.

A cache that is corrupt, tampered with, unreadable or unwritable is never an error: the entry is
ignored, the file is linted, and the run says so once as a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlint import __version__
from nnlint.findings import FileError, FileResult, Finding

if TYPE_CHECKING:
    from nnlint.registry import Registry
    from nnlint.semantic import ModuleSummary
    from nnlint.settings import Settings

SCHEMA = 1
CACHE_DIR_NAME = ".nnlint_cache"
ENV_CACHE_DIR = "NNLINT_CACHE_DIR"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by nnlint.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)

# (module, the file it resolved to or None, that file's content hash or None)
Dependency = tuple[str, "str | None", "str | None"]
DependencyCheck = Callable[[str, "str | None", "str | None"], bool]


class CorruptEntry(Exception):
    """An entry that is not what nnlint writes: ignored, counted, and rewritten."""


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def default_cache_dir(start: Path | None = None) -> Path:
    """``.nnlint_cache`` beside the closest pyproject.toml at or above ``start``, else in ``start``."""
    start = (start or Path.cwd()).resolve()
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").is_file():
            return directory / CACHE_DIR_NAME
    return start / CACHE_DIR_NAME


def code_fingerprint() -> str:
    """This build of nnlint: its version and the size and mtime of every source file, so that an
    edited checkout (or a reinstall) never answers with results of other code."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for directory, subdirs, names in os.walk(package):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(directory, name))
                relative = os.path.relpath(os.path.join(directory, name), package)
                digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _pack_fingerprint(registry: Registry, codes: Iterable[str]) -> list[str]:
    """Rules from third-party packs: pack version (when it can be found) and the rule's source
    file's size and mtime (packs under development change without a version bump)."""
    parts = []
    for code in sorted(codes):
        entry = registry.entries[code]
        if entry.origin == "nnlint":
            continue
        rule = registry.load(code)
        module = sys.modules.get(rule.__module__)
        source = getattr(module, "__file__", None)
        stamp = ""
        if source:
            try:
                stat = os.stat(source)
                stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
            except OSError:
                pass
        parts.append(f"{code}={entry.origin}:{_distribution_version(rule.__module__)}:{rule.__qualname__}:{stamp}")
    return parts


def _distribution_version(module: str) -> str:
    from importlib import metadata

    top = module.partition(".")[0]
    for name in (top, *metadata.packages_distributions().get(top, ())):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return ""


def settings_key(settings: Settings, codes: Iterable[str], registry: Registry) -> str:
    """Everything global that changes what nnlint reports, except the code itself."""
    codes = sorted(codes)
    return _short_hash(json.dumps([settings.fingerprint(), codes, _pack_fingerprint(registry, codes)]))[:16]


# -- (de)serialising results -------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _from_json(hint: Any, value: Any) -> Any:
    """``value`` read back as ``hint`` (a dataclass, a scalar, a union, a tuple or list of them);
    raises CorruptEntry when it does not fit."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            try:
                return _from_json(arm, value)
            except CorruptEntry:
                continue
        raise CorruptEntry(f"{value!r} is not {hint}")
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise CorruptEntry(f"{value!r} is not a list")
        args = typing.get_args(hint)
        items = [_from_json(args[0] if args else Any, item) for item in value]
        return tuple(items) if origin is tuple else items
    if hint is type(None):
        if value is not None:
            raise CorruptEntry(f"{value!r} is not null")
        return None
    if hint is Any:
        return value
    if isinstance(hint, type) and is_dataclass(hint):
        hints = _HINTS.get(hint)
        if hints is None:
            hints = _HINTS[hint] = typing.get_type_hints(hint)
        if not isinstance(value, dict) or set(value) != set(hints):
            raise CorruptEntry(f"{value!r} is not a {hint.__name__}")
        return hint(**{name: _from_json(hints[name], value[name]) for name in hints})
    if hint in (int, float) and isinstance(value, bool):
        raise CorruptEntry(f"{value!r} is not a number")
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    if hint is float and isinstance(value, int):
        return float(value)
    raise CorruptEntry(f"{value!r} is not {getattr(hint, '__name__', hint)}")


def encode_result(result: FileResult) -> dict[str, Any]:
    """A FileResult as JSON data; paths are left out (they are given again when it is read)."""
    strip = lambda item: {k: v for k, v in _to_json(item).items() if k != "path"}  # noqa: E731
    return {
        "findings": [strip(f) for f in result.findings],
        "errors": [strip(e) for e in result.errors],
        "warnings": list(result.warnings),
    }


def decode_result(data: Any, path: str) -> FileResult:
    if not isinstance(data, dict) or set(data) != {"findings", "errors", "warnings"}:
        raise CorruptEntry("not a result")
    for key in ("findings", "errors"):
        if not isinstance(data[key], list) or not all(isinstance(item, dict) for item in data[key]):
            raise CorruptEntry(f"bad {key}")
    findings = [_from_json(Finding, {**item, "path": path}) for item in data["findings"]]
    errors = [_from_json(FileError, {**item, "path": path}) for item in data["errors"]]
    warnings = _from_json(list[str], data["warnings"])
    return FileResult(path, findings, errors, warnings)


def _dependencies(value: Any) -> list[Dependency]:
    if not isinstance(value, list):
        raise CorruptEntry("bad deps")
    deps = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 3
            or not isinstance(item[0], str)
            or not all(part is None or isinstance(part, str) for part in item[1:])
        ):
            raise CorruptEntry("bad dependency")
        deps.append((item[0], item[1], item[2]))
    return deps


# -- the cache ---------------------------------------------------------------------------------


class Cache:
    """One run's view of the cache directory. Safe to use from forked worker processes: every
    write goes to a temporary file that is renamed into place."""

    def __init__(self, directory: Path, settings_key: str, code_key: str) -> None:
        self.directory = directory
        self.settings_key = settings_key
        self.code_key = code_key
        root = directory / __version__
        self.results_dir = root / f"results-{settings_key}"
        self.summaries_dir = root / "summaries"
        self.corrupt = 0
        self.read_error: str | None = None
        self.write_error: str | None = None
        self._reported: set[str] = set()

    @classmethod
    def open(cls, directory: Path, settings_key: str) -> Cache:
        cache = cls(directory, settings_key, code_fingerprint())
        cache._prepare()
        return cache

    def _prepare(self) -> None:
        try:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            self.summaries_dir.mkdir(parents=True, exist_ok=True)
            for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "# created by nnlint\n*\n")):
                marker = self.directory / name
                if not marker.exists():
                    self._write(marker, text)
        except OSError as exc:
            self._write_failed(exc)

    # -- results ------------------------------------------------------------------------------

    def load_result(
        self,
        path: str,
        key_path: str,
        digest: str,
        module: str,
        is_package: bool,
        rules: str,
        dependency_ok: DependencyCheck,
    ) -> FileResult | None:
        """Last run's result for the file at ``key_path`` (reported under ``path``), or None."""
        entry = self._read(self.results_dir / f"{_short_hash(key_path)}.json")
        if entry is None:
            return None
        try:
            if entry.get("path") != key_path:
                raise CorruptEntry("entry of another file")
            if (
                entry.get("code") != self.code_key
                or entry.get("content") != digest
                or entry.get("rules") != rules
                or entry.get("module") != module
                or entry.get("package") is not is_package
            ):
                return None
            for dep_module, dep_path, dep_digest in _dependencies(entry.get("deps")):
                if not dependency_ok(dep_module, dep_path, dep_digest):
                    return None
            return decode_result(entry.get("result"), path)
        except (CorruptEntry, TypeError, ValueError, AttributeError):
            self.corrupt += 1
            return None

    def store_result(
        self,
        key_path: str,
        digest: str,
        module: str,
        is_package: bool,
        rules: str,
        deps: list[Dependency],
        result: FileResult,
    ) -> None:
        entry = {
            "schema": SCHEMA,
            "path": key_path,
            "code": self.code_key,
            "content": digest,
            "rules": rules,
            "module": module,
            "package": is_package,
            "deps": [list(dep) for dep in deps],
            "result": encode_result(result),
        }
        self._store(self.results_dir / f"{_short_hash(key_path)}.json", entry)

    # -- class summaries of files others depend on ---------------------------------------------

    def load_summary(self, key_path: str, digest: str, module: str, is_package: bool) -> ModuleSummary | None:
        entry = self._read(self.summaries_dir / f"{_short_hash(key_path)}.json")
        if entry is None:
            return None
        try:
            if entry.get("path") != key_path:
                raise CorruptEntry("entry of another file")
            if (
                entry.get("code") != self.code_key
                or entry.get("content") != digest
                or entry.get("module") != module
                or entry.get("package") is not is_package
            ):
                return None
            aliases = _from_json(dict, entry.get("aliases"))
            bases = _from_json(dict, entry.get("class_bases"))
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
                raise CorruptEntry("bad aliases")
            class_bases = {name: _from_json(tuple[str, ...], value) for name, value in bases.items()}
        except (CorruptEntry, TypeError, ValueError, AttributeError):
            self.corrupt += 1
            return None
        from nnlint.semantic import ModuleSummary

        return ModuleSummary(module=module, aliases=aliases, class_bases=class_bases)

    def store_summary(self, key_path: str, digest: str, is_package: bool, summary: ModuleSummary) -> None:
        entry = {
            "schema": SCHEMA,
            "path": key_path,
            "code": self.code_key,
            "content": digest,
            "module": summary.module,
            "package": is_package,
            "aliases": summary.aliases,
            "class_bases": {name: list(bases) for name, bases in summary.class_bases.items()},
        }
        self._store(self.summaries_dir / f"{_short_hash(key_path)}.json", entry)

    # -- files --------------------------------------------------------------------------------

    def _read(self, target: Path) -> dict[str, Any] | None:
        try:
            with open(target, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if self.read_error is None:
                self.read_error = f"cannot read the cache in {self.directory} ({exc.strerror or exc}); linting without it"
            return None
        try:
            entry = json.loads(data)
        except (ValueError, RecursionError):
            self.corrupt += 1
            return None
        if not isinstance(entry, dict) or entry.get("schema") != SCHEMA:
            self.corrupt += 1
            return None
        return entry

    def _store(self, target: Path, entry: dict[str, Any]) -> None:
        if self.write_error is not None:
            return
        try:
            # ASCII escapes keep undecodable file names (lone surrogates) readable.
            self._write(target, json.dumps(entry, separators=(",", ":")))
        except (OSError, ValueError) as exc:
            self._write_failed(exc)

    def _write(self, target: Path, text: str) -> None:
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, target)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise

    def _write_failed(self, exc: Exception) -> None:
        if self.write_error is None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.write_error = f"cannot write the cache in {self.directory} ({reason}); results of this run are not cached"

    def take_warnings(self) -> list[str]:
        """Warnings not yet handed out (once each per process)."""
        found = []
        if self.corrupt:
            found.append(
                f"ignored corrupt entries in the cache in {self.directory}; the files were linted "
                "again (delete the directory if this keeps happening)"
            )
        found += [w for w in (self.read_error, self.write_error) if w]
        fresh = [w for w in found if w not in self._reported]
        self._reported.update(fresh)
        return fresh
