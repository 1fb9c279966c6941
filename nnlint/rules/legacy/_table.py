"""The deprecation table (``nnlint/data/deprecations.toml``), read once per process on first use,
and the configured torch version it is compared with."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnlint.context import FileContext

DATA = Path(__file__).resolve().parents[2] / "data" / "deprecations.toml"
STATUSES = ("removed", "deprecated", "nonpublic")
FIXES = ("safe", "unsafe", "none")


@dataclass(frozen=True)
class ArgAction:
    """What one value of an old parameter becomes: dropped (all None), passed as ``keyword=value``,
    or dropped with ``suffix`` appended to the call."""

    keyword: str | None = None
    value: str | None = None
    suffix: str | None = None


@dataclass(frozen=True)
class ApiEntry:
    name: str
    status: str
    replacement: str = ""
    deprecated: str = ""
    removed: str = ""
    advice: str = ""
    fix: str = "none"
    why: str = ""
    params: tuple[str, ...] = ()
    arguments: dict[str, dict[str, ArgAction]] = field(default_factory=dict)
    prepend: tuple[str, ...] = ()
    append: tuple[str, ...] = ()
    pack: bool = False
    min_positional: int = 0
    max_positional: int | None = None
    transform: str = ""
    bare: str = ""

    @property
    def rewrites_arguments(self) -> bool:
        """Whether a call needs more than a new callee (then imports and bare references of the
        name cannot simply be renamed)."""
        return bool(
            self.arguments or self.prepend or self.append or self.pack or self.transform
            or self.min_positional or self.max_positional is not None
        )

    def deprecated_at(self, version: tuple[int, ...] | None) -> bool:
        """Whether a project on torch ``version`` (None: the current release) sees it deprecated."""
        if version is None or not self.deprecated:
            return True
        return parse_version(self.deprecated) <= version

    def since(self) -> str:
        if self.status == "removed":
            return f"removed in torch {self.removed}" if self.removed else "removed from torch"
        if self.status == "deprecated":
            return f"deprecated since torch {self.deprecated}" if self.deprecated else "deprecated"
        return "not public"


@dataclass(frozen=True)
class Table:
    apis: dict[str, ApiEntry]
    last_segments: frozenset[str]
    # builder qualified name -> {legacy argument: default weights ("" when it depends)}
    builders: dict[str, dict[str, str]]


def parse_version(text: str) -> tuple[int, ...]:
    """``"2.4"`` -> (2, 4); ``"2.4.1+cu121"`` -> (2, 4, 1). ValueError for anything else."""
    core = text.strip().split("+")[0]
    parts = core.split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(text)
    return tuple(int(p) for p in parts)


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10
        import tomli as tomllib
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def _entry(raw: dict[str, Any]) -> ApiEntry:
    name = raw["name"]
    if raw.get("status") not in STATUSES:
        raise ValueError(f"{DATA}: {name}: status {raw.get('status')!r} is not one of {STATUSES}")
    if raw.get("fix", "none") not in FIXES:
        raise ValueError(f"{DATA}: {name}: fix {raw.get('fix')!r} is not one of {FIXES}")
    for key in ("deprecated", "removed"):
        if raw.get(key):
            parse_version(raw[key])
    arguments = {
        param: {value: ArgAction(**action) for value, action in values.items()}
        for param, values in raw.get("arguments", {}).items()
    }
    return ApiEntry(
        name=name,
        status=raw["status"],
        replacement=raw.get("replacement", ""),
        deprecated=raw.get("deprecated", ""),
        removed=raw.get("removed", ""),
        advice=raw.get("advice", ""),
        fix=raw.get("fix", "none"),
        why=raw.get("why", ""),
        params=tuple(raw.get("params", ())),
        arguments=arguments,
        prepend=tuple(raw.get("prepend", ())),
        append=tuple(raw.get("append", ())),
        pack=bool(raw.get("pack", False)),
        min_positional=int(raw.get("min-positional", 0)),
        max_positional=raw.get("max-positional"),
        transform=raw.get("transform", ""),
        bare=raw.get("bare", ""),
    )


@lru_cache(maxsize=1)
def table() -> Table:
    data = _load_toml(DATA)
    apis = {}
    for raw in data.get("api", []):
        entry = _entry(raw)
        apis[entry.name] = entry
    builders: dict[str, dict[str, str]] = {}
    for path, legacy in data.get("torchvision", {}).get("builders", {}).items():
        full = f"torchvision.{path}"
        builders[full] = legacy
        # The builder is also exported by its package (torchvision.models.resnet50).
        package, _, name = full.rpartition(".")
        builders.setdefault(f"{package.rpartition('.')[0]}.{name}", legacy)
    return Table(apis, frozenset(name.rpartition(".")[2] for name in apis), builders)


def torch_version(ctx: FileContext) -> tuple[int, ...] | None:
    """The project's ``torch-version`` setting as a tuple; None when unset (the current release).

    The engine hands rules their file's context; the settings reach it as ``ctx.settings`` where
    the engine provides them (None otherwise, meaning "current")."""
    settings = getattr(ctx, "settings", None)
    text = getattr(settings, "torch_version", None)
    if not text:
        return None
    try:
        return parse_version(text)
    except ValueError:  # settings.py validates the value; be lenient with API callers
        return None
