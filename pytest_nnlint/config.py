"""`[tool.nnlint.models.NAME]` tables in pyproject.toml -> ModelSpecs (validated, torch-free)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from pytest_nnlint.spec import FactoryCall, ImportedCallable, ModelSpec, SpecError, nested_calls, parse_allow

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# key -> what it must be (used both to validate and to phrase the error)
MODEL_KEYS: dict[str, str] = {
    "factory": "a 'package.module:callable' string",
    "args": "a list of positional arguments for the factory",
    "kwargs": "a table of keyword arguments for the factory",
    "inputs": "a 'package.module:callable' string, a list of positional inputs, a table of keyword inputs or a tensor table",
    "loss": "a 'package.module:callable' string",
    "frozen": "a list of parameter-name patterns",
    "devices": "a list of device names",
    "checks": "a list of check names",
    "rtol": "a non-negative number",
    "atol": "a non-negative number",
    "seed": "an integer",
    "allow": "a table {check = [patterns]} of known exceptions",
}
REQUIRED_KEYS = ("factory",)
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def read_pyproject(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed file, or SpecError naming the file and the TOML problem."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None


def model_tables(pyproject: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `[tool.nnlint.models]` table ({} when absent)."""
    models = pyproject.get("tool", {}).get("nnlint", {}).get("models", {})
    if not isinstance(models, dict):
        raise SpecError(f"{path}: [tool.nnlint] models must be a table of [tool.nnlint.models.NAME] tables")
    return models


RUNTIME_KEYS: dict[str, str] = {
    "discover": "a list of module names whose nn.Module classes become models",
    "discover-exclude": "a list of class-name patterns (fnmatch on 'module.Class') to leave out",
    "discover-allow": "a table {'module.Class' pattern = {check = [patterns]}}: known exceptions of discovered classes",
}


def runtime_table(pyproject: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """`[tool.nnlint.runtime]`, validated ({} when absent)."""
    table = pyproject.get("tool", {}).get("nnlint", {}).get("runtime", {})
    section = f"{path} [tool.nnlint.runtime]"
    if not isinstance(table, dict):
        raise SpecError(f"{section}: expected a table")
    for key, value in table.items():
        if key not in RUNTIME_KEYS:
            raise SpecError(f"{section}: unknown key {key!r} (expected one of: {', '.join(RUNTIME_KEYS)})")
        if key == "discover-allow":
            if not isinstance(value, dict):
                raise SpecError(f"{section}: {key} = {value!r} is invalid: expected {RUNTIME_KEYS[key]}")
            for pattern, allow in value.items():
                parse_allow(allow, f"{section} discover-allow.{pattern!r}")  # raises on a bad table
        elif not (isinstance(value, list) and all(isinstance(item, str) and item for item in value)):
            raise SpecError(f"{section}: {key} = {value!r} is invalid: expected {RUNTIME_KEYS[key]}")
    return table


def resolve_references(spec: ModelSpec) -> None:
    """Import every `package.module:callable` the spec names, so that a wrong reference is a
    configuration error before anything runs (SpecError), not one failure per check."""
    pending: list[Any] = [spec.loss, spec.inputs, spec.factory]  # popped from the end: factory first
    while pending:
        value = pending.pop()
        if isinstance(value, ImportedCallable):
            value.resolve()
        elif isinstance(value, FactoryCall):
            pending += [value.factory, *value.args, *(v for _, v in value.kwargs)]
        elif isinstance(value, tuple):
            pending += list(value)


def load_model_specs(path: str | os.PathLike[str]) -> list[ModelSpec]:
    """Every model configured in this pyproject.toml, validated; imports nothing of the user's."""
    path = Path(path)
    models = model_tables(read_pyproject(path), path)
    return [_spec_from_table(name, table, path) for name, table in models.items()]


def _spec_from_table(name: str, table: Any, path: Path) -> ModelSpec:
    section = f"{path} [tool.nnlint.models.{name}]"
    if not _NAME_PATTERN.match(name):
        raise SpecError(f"{section}: model name {name!r} may only use letters, digits, '_', '-' and '.'")
    if not isinstance(table, dict):
        raise SpecError(f"{section}: expected a table, got {table!r}")
    for key in table:
        if key not in MODEL_KEYS:
            raise SpecError(
                f"{section}: unknown key {key!r} (expected one of: {', '.join(MODEL_KEYS)})"
            )
    for key in REQUIRED_KEYS:
        if key not in table:
            raise SpecError(f"{section}: missing required key {key!r} ({MODEL_KEYS[key]})")
    for key, value in table.items():
        _check_type(section, key, value)

    root = str(path.parent.resolve())

    def target(key: str) -> ImportedCallable:
        return ImportedCallable(table[key], where=f"{section} {key}", search_path=root)

    factory: Any = target("factory")
    if "args" in table or "kwargs" in table:
        factory = FactoryCall(
            factory,
            nested_calls(table.get("args", []), f"{section} args", root),
            tuple(
                (key, nested_calls(value, f"{section} kwargs.{key}", root))
                for key, value in table.get("kwargs", {}).items()
            ),
        )
    inputs = table.get("inputs")
    return ModelSpec(
        name=name,
        factory=factory,
        inputs=target("inputs") if isinstance(inputs, str) else inputs,
        loss=target("loss") if "loss" in table else None,
        frozen=tuple(table.get("frozen", ())),
        devices=tuple(table["devices"]) if "devices" in table else None,
        checks=tuple(table["checks"]) if "checks" in table else None,
        rtol=table.get("rtol"),
        atol=table.get("atol"),
        seed=table.get("seed", 0),
        allow=table.get("allow", {}),
        source=section,
    )


def _check_type(section: str, key: str, value: Any) -> None:
    if key in ("factory", "loss"):
        ok = isinstance(value, str)
    elif key == "inputs":
        ok = isinstance(value, (str, list, dict))
    elif key == "args":
        ok = isinstance(value, list)
    elif key in ("kwargs", "allow"):
        ok = isinstance(value, dict)
    elif key in ("frozen", "devices", "checks"):
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif key in ("rtol", "atol"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    else:  # seed
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise SpecError(f"{section}: {key} = {value!r} is invalid: expected {MODEL_KEYS[key]}")
