"""Discovery: every nn.Module subclass defined in the named modules (and their submodules, for
a package) that can be built without arguments becomes a model with inferred inputs.

`[tool.nnlint.runtime] discover = ["mypkg.models"]` or `--nnlint-discover=mypkg.models`. This
imports the modules (and so torch): it runs only when discovery is asked for.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import ModuleType
from typing import Any

from pytest_nnlint.errors import SpecError
from pytest_nnlint.spec import ModelSpec, parse_allow


@dataclass
class DiscoveryReport:
    """What discovery found, for the summary line."""

    modules: list[str]
    classes: int = 0
    collected: list[str] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)  # reason -> count
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one class
    import_errors: list[str] = field(default_factory=list)

    def leave_out(self, reason: str, name: str) -> None:
        self.left_out[reason] += 1
        self.examples.setdefault(reason, name)

    def summary(self, outcomes: dict[str, set[str]]) -> str:
        """One line: how many classes were checked, and why the others were not."""
        failed = sum(1 for name in self.collected if "failed" in outcomes.get(name, set()))
        skipped_only = sum(1 for name in self.collected if outcomes.get(name) == {"skipped"})
        checked = len(self.collected) - skipped_only
        parts = [f"{self.classes} nn.Module classes in {', '.join(self.modules)}: {checked} checked ({failed} with failures)"]
        not_checked = [f"{skipped_only} could not be built or given inputs (skipped)"] if skipped_only else []
        not_checked += [f"{count} {reason} (e.g. {self.examples[reason]})" for reason, count in self.left_out.most_common()]
        if not_checked:
            parts.append("not checked: " + ", ".join(not_checked))
        if self.import_errors:
            parts.append(f"{len(self.import_errors)} module(s) could not be imported: {'; '.join(self.import_errors[:3])}")
        return "nnlint discovery: " + "; ".join(parts)


def discover_specs(
    modules: list[str],
    exclude: list[str],
    taken: set[str],
    search_path: str | None,
    allow: dict[str, Any] | None = None,
) -> tuple[list[ModelSpec], DiscoveryReport]:
    """``allow``: class-name pattern (fnmatch on 'module.Class' or the class name) -> that class's
    known exceptions, as a model's `allow` table (every matching pattern's allowances apply)."""
    from torch import nn

    report = DiscoveryReport(list(modules))
    specs: list[ModelSpec] = []
    seen: set[type] = set()
    added = search_path is not None and search_path not in sys.path
    if added:
        sys.path.insert(0, search_path)  # type: ignore[arg-type]
    try:
        for module in _modules(modules, report):
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls in seen or cls.__module__ != module.__name__ or not issubclass(cls, nn.Module):
                    continue
                seen.add(cls)
                report.classes += 1
                name = f"{cls.__module__}.{cls.__qualname__}"
                reason = _why_not(cls, name, exclude, taken)
                if reason:
                    report.leave_out(reason, cls.__qualname__)
                    continue
                allowances = tuple(
                    allowance
                    for pattern, table in (allow or {}).items()
                    if fnmatchcase(name, pattern) or fnmatchcase(cls.__qualname__, pattern)
                    for allowance in parse_allow(table, f"discover-allow.{pattern!r}")
                )
                specs.append(
                    ModelSpec(
                        name, factory=cls, source=f"discovered in {module.__name__}", discovered=True, allow=allowances
                    )
                )
                report.collected.append(name)
    finally:
        if added:
            sys.path.remove(search_path)  # type: ignore[arg-type]
    return specs, report


def _modules(names: list[str], report: DiscoveryReport) -> list[ModuleType]:
    found = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise SpecError(f"nnlint discovery: cannot import module {name!r}: {type(exc).__name__}: {exc}") from None
        found.append(module)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{name}."):
            try:
                found.append(importlib.import_module(info.name))
            except Exception as exc:  # one broken submodule should not hide the others
                report.import_errors.append(f"{info.name} ({type(exc).__name__})")
    return found


def _why_not(cls: type, name: str, exclude: list[str], taken: set[str]) -> str | None:
    if name in taken:
        return "already configured"
    if any(fnmatchcase(name, pattern) or fnmatchcase(cls.__qualname__, pattern) for pattern in exclude):
        return "excluded"
    if inspect.isabstract(cls) or cls.__qualname__.startswith("_"):
        return "abstract or private"
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return "have no readable signature"
    required = [p.name for p in signature.parameters.values() if _required(p)]
    if required:
        return "need constructor arguments"
    return None


def _required(parameter: Any) -> bool:
    return parameter.default is inspect.Parameter.empty and parameter.kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
