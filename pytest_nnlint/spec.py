"""`ModelSpec`: how to build a model, its example inputs, and what to expect of it.

Nothing here imports torch: specs are described (in code or in pyproject.toml) and collected
before any check runs.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_nnlint.errors import SpecError
from pytest_nnlint.inputs import DeclaredInputs

# The public names of the checks, in the order they run.
CHECK_NAMES: tuple[str, ...] = (
    "registration",
    "device-transfer",
    "freezing",
    "grad-flow",
    "state-dict-roundtrip",
    "train-eval",
    "parity",
)

# Checks that compare two devices and so only run on an accelerator.
ACCELERATOR_ONLY_CHECKS: frozenset[str] = frozenset({"parity"})

DEFAULT_DEVICES: tuple[str, ...] = ("cpu", "cuda")

_DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps|xpu(:\d+)?)$")
_TARGET_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def validate_device(name: str, where: str) -> str:
    """A device name the checks can run on (`cpu`, `cuda`, `cuda:1`, `mps`), or SpecError."""
    if not isinstance(name, str) or not _DEVICE_PATTERN.match(name):
        raise SpecError(
            f"{where}: invalid device {name!r} (expected 'cpu', 'cuda', 'cuda:N' or 'mps')"
        )
    return name


@dataclass(frozen=True)
class Allowance:
    """A known, deliberate exception: problems of `check` at paths matching `pattern` (fnmatch;
    `encoder` also covers `encoder.*`) are reported as notes, with the reason, not as failures."""

    check: str  # a check name, or "*" for every check
    pattern: str
    reason: str = ""

    def covers(self, check: str, path: str) -> bool:
        from fnmatch import fnmatchcase

        if self.check not in ("*", check) or not path:
            return False
        return fnmatchcase(path, self.pattern) or fnmatchcase(path, self.pattern + ".*") or fnmatchcase(
            path, self.pattern + "[[]*"
        )

    def describe(self) -> str:
        reason = self.reason or "no reason given"
        return f"allow.{self.check} {self.pattern!r}: {reason}"


@dataclass(frozen=True)
class ModelSpec:
    """A model described once; every check and device uses it.

    factory: builds a *new* model instance each call (checks never touch an instance you hold).
    inputs:  given a `torch.device`, returns the inputs on that device: a tuple of positional
             arguments, a single argument, or `Inputs(*args, **kwargs)` for keyword inputs. Or a
             declaration (a list of positional inputs, a dict of keyword inputs, a tensor table:
             see pytest_nnlint.inputs). None: inferred from the model (transformers' dummy
             inputs, timm's pretrained_cfg, the first layer), tried on the meta device first.
    loss:    maps the forward output to a scalar tensor; default: a fixed random projection of
             every floating-point tensor in the output (depends on every element, so a
             normalisation head still gets a gradient).
    frozen:  parameter-name patterns (fnmatch) that should not train; `encoder` also freezes
             `encoder.*`.
    devices: restricts the devices this model runs on (default: every selected device).
    checks:  restricts the checks (default: all of CHECK_NAMES).
    allow:   known exceptions, per check: {"registration": ["anchor_generator.cell_anchors*"]}
             or {"registration": [{"pattern": "...", "reason": "..."}]}; "*" applies to every
             check. Matching problems become notes naming the allowance.
    rtol/atol: tolerances for cross-device comparisons (default: by dtype).
    seed:    seed under which instances are built (a second instance uses seed + 1).
    """

    name: str
    factory: Callable[[], Any]
    inputs: Any = None
    loss: Callable[[Any], Any] | None = None
    frozen: tuple[str, ...] = ()
    devices: tuple[str, ...] | None = None
    checks: tuple[str, ...] | None = None
    rtol: float | None = None
    atol: float | None = None
    seed: int = 0
    allow: Any = ()
    source: str = field(default="", compare=False)  # where it was described, for messages
    discovered: bool = field(default=False, compare=False)  # found by discovery, not described

    def __post_init__(self) -> None:
        where = self.source or f"ModelSpec({self.name!r})"
        if not isinstance(self.name, str) or not self.name.strip():
            raise SpecError(f"{where}: name must be a non-empty string, got {self.name!r}")
        if not callable(self.factory):
            raise SpecError(f"{where}: factory must be callable, got {self.factory!r}")
        if isinstance(self.inputs, (list, dict)):
            object.__setattr__(self, "inputs", DeclaredInputs(self.inputs, f"{where} inputs", seed=self.seed))
        elif self.inputs is not None and not callable(self.inputs):
            raise SpecError(
                f"{where}: inputs must be callable, a declaration (list or dict) or None (inferred), "
                f"got {self.inputs!r}"
            )
        if self.loss is not None and not callable(self.loss):
            raise SpecError(f"{where}: loss must be callable or None, got {self.loss!r}")
        object.__setattr__(self, "frozen", _string_tuple(self.frozen, f"{where}: frozen"))
        if self.devices is not None:
            devices = _string_tuple(self.devices, f"{where}: devices")
            object.__setattr__(self, "devices", tuple(validate_device(d, f"{where}: devices") for d in devices))
        if self.checks is not None:
            checks = _string_tuple(self.checks, f"{where}: checks")
            for check in checks:
                if check not in CHECK_NAMES:
                    raise SpecError(
                        f"{where}: unknown check {check!r} (expected one of: {', '.join(CHECK_NAMES)})"
                    )
            object.__setattr__(self, "checks", checks)
        object.__setattr__(self, "allow", parse_allow(self.allow, f"{where}: allow"))
        for attribute in ("rtol", "atol"):
            value = getattr(self, attribute)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise SpecError(f"{where}: {attribute} must be a non-negative number, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SpecError(f"{where}: seed must be an integer, got {self.seed!r}")

    def allowance_for(self, check: str, path: str) -> Allowance | None:
        """The first allowance that exempts this problem, if any."""
        return next((a for a in self.allow if a.covers(check, path)), None)

    @property
    def selected_checks(self) -> tuple[str, ...]:
        """The checks to run, in the canonical order."""
        if self.checks is None:
            return CHECK_NAMES
        return tuple(name for name in CHECK_NAMES if name in self.checks)

    def devices_within(self, selected: Iterable[str]) -> tuple[str, ...]:
        """The selected devices this model runs on, in the selection's order."""
        selected = tuple(selected)
        if self.devices is None:
            return selected
        return tuple(device for device in selected if device in self.devices)


def parse_allow(value: Any, where: str) -> tuple[Allowance, ...]:
    """`{check: [pattern | {pattern, reason}]}` (or Allowances already) -> a tuple of Allowances."""
    if isinstance(value, tuple) and all(isinstance(item, Allowance) for item in value):
        return value
    if not isinstance(value, dict):
        raise SpecError(f"{where} = {value!r} is invalid: expected a table {{check = [patterns]}}")
    allowances = []
    for check, entries in value.items():
        if check != "*" and check not in CHECK_NAMES:
            raise SpecError(f"{where}: unknown check {check!r} (expected '*' or one of: {', '.join(CHECK_NAMES)})")
        for entry in [entries] if isinstance(entries, (str, dict)) else entries:
            if isinstance(entry, str):
                allowances.append(Allowance(check, entry))
            elif isinstance(entry, dict) and isinstance(entry.get("pattern"), str) and set(entry) <= {"pattern", "reason"}:
                allowances.append(Allowance(check, entry["pattern"], str(entry.get("reason", ""))))
            else:
                raise SpecError(
                    f"{where}.{check}: {entry!r} is invalid: expected a pattern string or "
                    "{pattern = \"...\", reason = \"...\"}"
                )
    return tuple(allowances)


def _string_tuple(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise SpecError(f"{where} must be a list of strings, got {value!r}") from None
    for item in items:
        if not isinstance(item, str):
            raise SpecError(f"{where} must be a list of strings, got {value!r}")
    return items


@dataclass(frozen=True)
class ImportedCallable:
    """A `pkg.module:callable` reference, imported on first call (so collection stays torch-free).

    `search_path` (the project root) is put on sys.path while importing, the way `python -m`
    would see the project.
    """

    target: str
    where: str  # e.g. "pyproject.toml [tool.nnlint.models.tiny] factory"
    search_path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not _TARGET_PATTERN.match(self.target):
            raise SpecError(
                f"{self.where}: {self.target!r} is not a 'package.module:callable' reference"
            )

    def resolve(self) -> Callable[..., Any]:
        module_name, _, attribute_path = self.target.partition(":")
        added = self.search_path is not None and self.search_path not in sys.path
        if added:
            sys.path.insert(0, self.search_path)  # type: ignore[arg-type]
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # an ImportError, or anything the module raises on import
            raise SpecError(
                f"{self.where}: cannot import module {module_name!r} for {self.target!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            if added:
                sys.path.remove(self.search_path)  # type: ignore[arg-type]
        value: Any = module
        for part in attribute_path.split("."):
            try:
                value = getattr(value, part)
            except AttributeError:
                raise SpecError(
                    f"{self.where}: module {module_name!r} has no attribute {attribute_path!r}"
                ) from None
        if not callable(value):
            raise SpecError(f"{self.where}: {self.target!r} is not callable (got {type(value).__name__})")
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return self.target


# In factory arguments, a table with this key is itself a call: `{call = "transformers:BertConfig",
# kwargs = {hidden_size = 64}}` (TOML cannot write a config object any other way).
CALL_KEY = "call"


@dataclass(frozen=True)
class FactoryCall:
    """`factory(*args, **kwargs)` from pyproject.toml; nested `{call = ...}` tables are built first."""

    factory: ImportedCallable
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __call__(self) -> Any:
        args = [_build_argument(value) for value in self.args]
        kwargs = {key: _build_argument(value) for key, value in self.kwargs}
        return self.factory(*args, **kwargs)

    def __repr__(self) -> str:
        parts = [repr(_plain(a)) for a in self.args] + [f"{k}={_plain(v)!r}" for k, v in self.kwargs]
        return f"{self.factory.target}({', '.join(parts)})" if parts else self.factory.target


def nested_calls(value: Any, where: str, search_path: str | None) -> Any:
    """Factory arguments with every `{call = "pkg:callable", args, kwargs}` table validated and
    turned into a FactoryCall (called when the model is built)."""
    if isinstance(value, dict) and CALL_KEY in value:
        unknown = set(value) - {CALL_KEY, "args", "kwargs"}
        if unknown:
            raise SpecError(f"{where}: unknown key {sorted(unknown)[0]!r} next to call (expected call, args, kwargs)")
        args, kwargs = value.get("args", []), value.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise SpecError(f"{where}: args must be a list and kwargs a table")
        return FactoryCall(
            ImportedCallable(value[CALL_KEY], where=f"{where} call", search_path=search_path),
            tuple(nested_calls(a, f"{where} args[{i}]", search_path) for i, a in enumerate(args)),
            tuple((k, nested_calls(v, f"{where} kwargs.{k}", search_path)) for k, v in kwargs.items()),
        )
    if isinstance(value, dict):
        return _FrozenDict((k, nested_calls(v, f"{where}.{k}", search_path)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(nested_calls(v, f"{where}[{i}]", search_path) for i, v in enumerate(value))
    return value


class _FrozenDict(tuple):  # type: ignore[type-arg]
    """A table argument kept hashable inside the frozen spec; built back into a dict."""


def _build_argument(value: Any) -> Any:
    if isinstance(value, FactoryCall):
        return value()
    if isinstance(value, _FrozenDict):
        return {k: _build_argument(v) for k, v in value}
    if isinstance(value, tuple):
        return [_build_argument(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, _FrozenDict):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, tuple) and not isinstance(value, FactoryCall):
        return [_plain(v) for v in value]
    return value
