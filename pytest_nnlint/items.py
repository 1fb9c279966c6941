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
from pytest_nnlint.results import LISTED_PROBLEMS, CheckFailure, CheckSkipped
from pytest_nnlint.spec import ACCELERATOR_ONLY_CHECKS, DEFAULT_DEVICES, ModelSpec, SpecError, validate_device

NOTES_PROPERTY = "nnlint_note"
# The markers: every item of this plugin, the lint items only, the model check items only.
MARKER = "nnlint"
LINT_MARKER = "nnlint_lint"
CHECKS_MARKER = "nnlint_checks"

_SPECS = pytest.StashKey[list[ModelSpec]]()
_DROPPED = pytest.StashKey[dict[str, tuple[str, int]]]()  # device -> (reason, items not run)
_AVAILABLE = pytest.StashKey[dict[str, str | None]]()  # device -> None (available) or the reason


def devices_are_default(config: pytest.Config) -> bool:
    return config.getoption("nnlint_devices", None) is None


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


def models_wanted(config: pytest.Config) -> bool:
    """Whether this run collects the models: a default run (`pytest`, testpaths), one that
    names pyproject.toml, or --nnlint-models."""
    if config.args_source != pytest.Config.ArgsSource.ARGS or config.getoption("nnlint_models", False):
        return True
    return any(Path(arg.split("::")[0]).name == "pyproject.toml" for arg in config.args)


def configured_specs(config: pytest.Config) -> list[ModelSpec]:
    """The models of pyproject.toml ([tool.nnlint.models] and discovery), read once per run."""
    if _SPECS not in config.stash:
        path = pyproject_path(config)
        specs = load_model_specs(path) if path.is_file() else []
        config.stash[_SPECS] = specs
    return config.stash[_SPECS]


def set_configured_specs(config: pytest.Config, specs: list[ModelSpec]) -> None:
    config.stash[_SPECS] = specs


def device_unavailable(config: pytest.Config, device: str) -> str | None:
    """Why `device` cannot run here (None when it can), asked of torch once per run. CPU needs
    no torch; without torch the items say so themselves when they run."""
    if device == "cpu":
        return None
    cache = config.stash.setdefault(_AVAILABLE, {})
    if device not in cache:
        try:
            from pytest_nnlint.checks._support import resolve_device
        except ImportError:
            cache[device] = None
        else:
            try:
                resolve_device(device)
                cache[device] = None
            except CheckSkipped as skipped:
                cache[device] = skipped.reason
    return cache[device]


def runnable_devices(config: pytest.Config, devices: tuple[str, ...]) -> tuple[str, ...]:
    """With the default device selection, accelerators that are not here are left out (and
    counted for one summary line); devices the user named explicitly are kept, and skip."""
    if not devices_are_default(config):
        return devices
    return tuple(device for device in devices if device_unavailable(config, device) is None)


def count_dropped(config: pytest.Config, device: str, items: int) -> None:
    dropped = config.stash.setdefault(_DROPPED, {})
    reason = device_unavailable(config, device) or ""
    dropped[device] = (reason, dropped.get(device, (reason, 0))[1] + items)


def dropped_devices(config: pytest.Config) -> dict[str, tuple[str, int]]:
    return config.stash.get(_DROPPED, {})


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
            specs += configured_specs(self.config)
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
        devices = self.spec.devices_within(selected_devices(self.config))
        runnable = runnable_devices(self.config, devices)
        for check in self.spec.selected_checks:
            for device in devices:
                if check in ACCELERATOR_ONLY_CHECKS and device == "cpu":
                    continue
                if device not in runnable:
                    count_dropped(self.config, device, 1)
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
        self.add_marker(MARKER)
        self.add_marker(CHECKS_MARKER)
        # Plugins that wrap pytest_runtest_call may assume every item has fixtures (pytest-lsp
        # 1.x returns without yielding otherwise, which breaks the run): these items have none.
        self.funcargs: dict[str, object] = {}

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
        if isinstance(excinfo.value, CheckFailure):
            # -vv lists every problem; by default the list is capped with a count.
            return excinfo.value.text(None if self.config.get_verbosity() >= 2 else LISTED_PROBLEMS)
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        line = self.parent.line if isinstance(self.parent, ModelNode) else 0
        return self.path, line, f"{self.spec.name}::{self.name}"
