"""Third-party rule packs through pluggy.

A rule pack is an ordinary package. It registers an entry point in the ``nnlint`` group that
points at a module (or any object) implementing the ``nnlint_rules`` hook::

    # pyproject.toml of the pack
    [project.entry-points.nnlint]
    my_pack = "my_pack"

    # my_pack/__init__.py
    from nnlint.plugins import hookimpl

    @hookimpl
    def nnlint_rules():
        return [MyRule]

(the ``@hookimpl`` marker is optional for a function named ``nnlint_rules``). Pack rules derive
from ``nnlint.rule.Rule`` like the built-in ones, so they are listed by ``nnlint rule --all``,
selected and ignored by code, name or prefix, and suppressed by ``# noqa``. A pack that cannot be
loaded, returns something that is not a valid rule, or reuses a code is a ``PluginError`` whose
message is one line naming the pack.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pluggy

from nnlint.distributions import RULE_PACK_GROUP
from nnlint.rule import Rule

PROJECT = "nnlint"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RulePackSpec:
    @hookspec
    def nnlint_rules(self) -> list[type[Rule]]:  # type: ignore[empty-body]
        """Return the rule classes this pack provides (subclasses of ``nnlint.rule.Rule``)."""


class PluginError(Exception):
    """A rule pack that cannot be used; the message is one line and names the pack."""


class _PluginManager(pluggy.PluginManager):
    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name == "nnlint_rules" and inspect.isroutine(getattr(plugin, name, None)):
            # Accept an unmarked `def nnlint_rules()`, as pytest accepts unmarked `pytest_*` hooks.
            return {
                "wrapper": False,
                "hookwrapper": False,
                "optionalhook": False,
                "tryfirst": False,
                "trylast": False,
                "specname": None,
            }
        return opts


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with every installed rule pack registered under its distribution name."""
    import importlib.metadata  # here, not at the top: most runs never get this far

    manager = _PluginManager(PROJECT)
    manager.add_hookspecs(RulePackSpec)
    for dist in importlib.metadata.distributions():
        for entry_point in dist.entry_points:
            if entry_point.group != RULE_PACK_GROUP:
                continue
            label = f"{dist.metadata['Name'] or entry_point.name} ({entry_point.name} = {entry_point.value})"
            if manager.has_plugin(label):
                continue  # the same distribution seen twice on sys.path
            try:
                plugin = entry_point.load()
            except Exception as exc:
                raise PluginError(f"rule pack {label}: cannot load: {_one_line(exc)}") from None
            if manager.is_registered(plugin):
                continue
            try:
                manager.register(plugin, name=label)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"rule pack {label}: {_one_line(exc)}") from None
    return manager


@functools.lru_cache(maxsize=1)
def discover_rule_packs() -> tuple[tuple[type[Rule], str], ...]:
    """(rule class, pack name) for every rule of every installed rule pack, validated.

    Cached: the entry points cannot change during a run, and forked workers inherit the answer.
    """
    from nnlint.rules import BUILTIN

    manager = plugin_manager()
    found: list[tuple[type[Rule], str]] = []
    names = {name: f"{code} (nnlint)" for code, (name, _, _) in BUILTIN.items()}
    # One implementation at a time (rather than `manager.hook.nnlint_rules()`, which merges every
    # pack's answer into one list), so that a broken pack is named in the error.
    for implementation in manager.hook.nnlint_rules.get_hookimpls():
        origin = implementation.plugin_name
        try:
            rules = implementation.function()
        except Exception as exc:
            raise PluginError(f"rule pack {origin}: nnlint_rules() raised {_one_line(exc)}") from None
        if isinstance(rules, (str, bytes)) or not hasattr(rules, "__iter__"):
            raise PluginError(f"rule pack {origin}: nnlint_rules() must return a list of Rule classes, not {rules!r}")
        for rule in rules:
            if not (isinstance(rule, type) and issubclass(rule, Rule)):
                raise PluginError(f"rule pack {origin}: {rule!r} is not a subclass of nnlint.rule.Rule")
            problems = rule.validate_definition()
            if problems:
                raise PluginError(f"rule pack {origin}: {rule.__name__}: {'; '.join(problems)}")
            if rule.name in names:
                raise PluginError(f"rule pack {origin}: {rule.code}: name {rule.name!r} is already used by {names[rule.name]}")
            names[rule.name] = f"{rule.code} ({origin})"
            found.append((rule, origin))
    return tuple(found)
