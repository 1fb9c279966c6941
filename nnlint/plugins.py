"""Third-party rule packs through pluggy: a pack is a package that registers an entry point in
the ``nnlint`` group pointing at a module (or object) implementing the ``nnlint_rules`` hook."""

from __future__ import annotations

import pluggy

from nnlint.rule import Rule

PROJECT = "nnlint"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RulePackSpec:
    @hookspec
    def nnlint_rules(self) -> list[type[Rule]]:  # type: ignore[empty-body]
        """Return the rule classes this pack provides (subclasses of ``nnlint.rule.Rule``)."""


class PluginError(Exception):
    pass


def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(RulePackSpec)
    manager.load_setuptools_entrypoints(PROJECT)
    return manager


def discover_rule_packs() -> list[tuple[type[Rule], str]]:
    """(rule class, pack name) for every installed rule pack, validated."""
    manager = plugin_manager()
    found: list[tuple[type[Rule], str]] = []
    for plugin in manager.get_plugins():
        origin = manager.get_name(plugin) or repr(plugin)
        implementation = getattr(plugin, "nnlint_rules", None)
        if implementation is None:
            continue
        for rule in implementation():
            if not (isinstance(rule, type) and issubclass(rule, Rule)):
                raise PluginError(f"rule pack {origin}: {rule!r} is not a subclass of nnlint.rule.Rule")
            problems = rule.validate_definition()
            if problems:
                raise PluginError(f"rule pack {origin}: {rule.__name__}: {'; '.join(problems)}")
            found.append((rule, origin))
    return found
