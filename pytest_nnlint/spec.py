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


class SpecError(ValueError):
    """A model description is invalid: the message names where (file, key) and what."""


def validate_device(name: str, where: str) -> str:
    """A device name the checks can run on (`cpu`, `cuda`, `cuda:1`, `mps`), or SpecError."""
    if not isinstance(name, str) or not _DEVICE_PATTERN.match(name):
        raise SpecError(
            f"{where}: invalid device {name!r} (expected 'cpu', 'cuda', 'cuda:N' or 'mps')"
        )
    return name


@dataclass(frozen=True)
class ModelSpec:
    """A model described once; every check and device uses it.

    factory: builds a *new* model instance each call (checks never touch an instance you hold).
    inputs:  given a `torch.device`, returns the positional inputs on that device: a tuple of
             arguments, or a single argument (e.g. one tensor).
    loss:    maps the forward output to a scalar tensor; default: the sum of every floating-point
             tensor in the output (tensors, tuples, lists, dicts and dataclasses are searched).
    frozen:  parameter-name patterns (fnmatch) that should not train; `encoder` also freezes
             `encoder.*`.
    devices: restricts the devices this model runs on (default: every selected device).
    checks:  restricts the checks (default: all of CHECK_NAMES).
    rtol/atol: tolerances for cross-device comparisons (default: by dtype).
    seed:    seed under which instances are built (a second instance uses seed + 1).
    """

    name: str
    factory: Callable[[], Any]
    inputs: Callable[[Any], Any]
    loss: Callable[[Any], Any] | None = None
    frozen: tuple[str, ...] = ()
    devices: tuple[str, ...] | None = None
    checks: tuple[str, ...] | None = None
    rtol: float | None = None
    atol: float | None = None
    seed: int = 0
    source: str = field(default="", compare=False)  # where it was described, for messages

    def __post_init__(self) -> None:
        where = self.source or f"ModelSpec({self.name!r})"
        if not isinstance(self.name, str) or not self.name.strip():
            raise SpecError(f"{where}: name must be a non-empty string, got {self.name!r}")
        for attribute in ("factory", "inputs"):
            if not callable(getattr(self, attribute)):
                raise SpecError(f"{where}: {attribute} must be callable, got {getattr(self, attribute)!r}")
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
        for attribute in ("rtol", "atol"):
            value = getattr(self, attribute)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise SpecError(f"{where}: {attribute} must be a non-negative number, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SpecError(f"{where}: seed must be an integer, got {self.seed!r}")

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
