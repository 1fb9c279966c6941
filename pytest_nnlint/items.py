"""Test items for described models: `pyproject.toml::NAME::CHECK[DEVICE]`.

Models come from `[tool.nnlint.models.NAME]` in the rootdir's pyproject.toml and from the
`pytest_nnlint_model_specs` hook. Collection reads TOML only; torch and the user's modules are
imported when an item runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_nnlint.config import load_model_specs, model_tables, read_pyproject
from pytest_nnlint.results import CheckFailure, CheckSkipped
from pytest_nnlint.spec import ACCELERATOR_ONLY_CHECKS, DEFAULT_DEVICES, ModelSpec, SpecError, validate_device

NOTES_PROPERTY = "nnlint_note"


def selected_devices(config: pytest.Config) -> tuple[str, ...]:
    """The devices of --nnlint-devices (default: cpu and cuda), validated."""
    option = config.getoption("nnlint_devices", None)
    if option is None:
        return DEFAULT_DEVICES
    names = tuple(dict.fromkeys(name.strip() for name in option.split(",") if name.strip()))
    if not names:
        raise pytest.UsageError("--nnlint-devices: give at least one device, e.g. --nnlint-devices=cpu")
    for name in names:
        try:
            validate_device(name, "--nnlint-devices")
        except SpecError as exc:
            raise pytest.UsageError(str(exc)) from None
    return names


def pyproject_path(config: pytest.Config) -> Path:
    return config.rootpath / "pyproject.toml"


def has_configured_models(config: pytest.Config) -> bool:
    """Whether the rootdir's pyproject.toml has a [tool.nnlint.models] table (TOML errors are
    reported when the models are collected, not here)."""
    path = pyproject_path(config)
    if not path.is_file():
        return False
    try:
        return bool(model_tables(read_pyproject(path), path))
    except SpecError:
        return True


def contributed_specs(config: pytest.Config) -> list[ModelSpec]:
    """Specs from pytest_nnlint_model_specs implementations (conftest files, plugins)."""
    specs: list[ModelSpec] = []
    for returned in config.hook.pytest_nnlint_model_specs(config=config):
        for spec in returned or ():
            if not isinstance(spec, ModelSpec):
                raise SpecError(
                    f"pytest_nnlint_model_specs returned {type(spec).__name__} {spec!r}; expected ModelSpec objects"
                )
            specs.append(spec)
    return specs


def skip_here(reason: str) -> BaseException:
    """A skip reported at the item (`pyproject.toml`) rather than at this line of the plugin."""
    try:
        return pytest.skip.Exception(reason, _use_item_location=True)  # type: ignore[call-arg]
    except TypeError:  # a pytest without the (private) keyword
        return pytest.skip.Exception(reason)


class ModelsFile(pytest.File):
    """The models of a project (the node is anchored at its pyproject.toml)."""

    def __init__(self, *args: Any, include_configured: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.include_configured = include_configured
        self.collected_names: set[str] = set()

    def collect(self) -> Iterator[ModelNode]:
        specs: list[ModelSpec] = []
        if self.include_configured and self.path.is_file():
            specs += load_model_specs(self.path)
        specs += contributed_specs(self.config)
        yield from self.nodes_for(specs)

    def nodes_for(self, specs: list[ModelSpec]) -> Iterator[ModelNode]:
        for spec in specs:
            if spec.name in self.collected_names:
                raise SpecError(f"two models are named {spec.name!r} ({spec.source or 'from a hook'}); names must be unique")
            self.collected_names.add(spec.name)
            yield ModelNode.from_parent(self, name=spec.name, spec=spec, line=self._table_line(spec))

    def _table_line(self, spec: ModelSpec) -> int:
        """0-based line of `[tool.nnlint.models.NAME]` (0 for models from the hook)."""
        if not spec.source or not self.path.is_file():
            return 0
        header = re.compile(rf"^\s*\[\s*tool\.nnlint\.models\.[\"']?{re.escape(spec.name)}[\"']?\s*\]")
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines()):
            if header.match(line):
                return number
        return 0

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)


class ModelNode(pytest.Collector):
    """One model: its items are its checks on each selected device."""

    def __init__(self, *args: Any, spec: ModelSpec, line: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.line = line

    def collect(self) -> Iterator[ModelCheckItem]:
        for check in self.spec.selected_checks:
            for device in self.spec.devices_within(selected_devices(self.config)):
                if check in ACCELERATOR_ONLY_CHECKS and device == "cpu":
                    continue
                yield ModelCheckItem.from_parent(
                    self, name=f"{check}[{device}]", spec=self.spec, check=check, device=device
                )


class ModelCheckItem(pytest.Item):
    """Runs one check of one model on one device."""

    def __init__(self, *args: Any, spec: ModelSpec, check: str, device: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.check = check
        self.device = device
        self.add_marker("nnlint")

    def runtest(self) -> None:
        try:
            from pytest_nnlint.checks import run_check
        except ImportError as exc:  # torch missing: the models cannot be built here
            raise skip_here(f"pytest_nnlint model checks need torch: {exc}") from None
        try:
            result = run_check(self.check, self.spec, self.device)
        except CheckSkipped as skipped:
            raise skip_here(skipped.reason) from None
        for note in result.notes:
            self.user_properties.append((NOTES_PROPERTY, note))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (CheckFailure, SpecError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        line = self.parent.line if isinstance(self.parent, ModelNode) else 0
        return self.path, line, f"{self.spec.name}::{self.name}"
