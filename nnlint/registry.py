"""Every known rule (built-in and from rule packs) and the selection logic: select / extend-select
/ ignore / per-file-ignores, by code, prefix (``NN1``), kebab-case name, or ``ALL``."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nnlint.rule import Rule
from nnlint.rules import BUILTIN, load_builtin
from nnlint.settings import Settings


@dataclass(frozen=True)
class RuleEntry:
    code: str
    name: str
    default_enabled: bool
    load: Callable[[], type[Rule]]
    origin: str = "nnlint"


class Registry:
    def __init__(self, extra_rules: list[tuple[type[Rule], str]] | None = None) -> None:
        self.entries: dict[str, RuleEntry] = {}
        for code, (name, default, _) in BUILTIN.items():
            self.entries[code] = RuleEntry(code, name, default, lambda code=code: load_builtin(code))
        for rule, origin in extra_rules or ():
            if rule.code in self.entries:
                raise ValueError(f"rule pack {origin}: code {rule.code} is already used by {self.entries[rule.code].origin}")
            self.entries[rule.code] = RuleEntry(rule.code, rule.name, rule.default_enabled, lambda rule=rule: rule, origin)
        self._by_name = {entry.name: code for code, entry in self.entries.items()}
        self._loaded: dict[str, type[Rule]] = {}

    @classmethod
    def with_plugins(cls) -> Registry:
        from nnlint.distributions import RULE_PACK_GROUP, may_declare_entry_points

        if not may_declare_entry_points(RULE_PACK_GROUP):
            return cls()  # the usual case, decided without importing pluggy and importlib.metadata
        from nnlint.plugins import discover_rule_packs

        return cls(discover_rule_packs())

    def codes(self) -> list[str]:
        return sorted(self.entries)

    def load(self, code: str) -> type[Rule]:
        rule = self._loaded.get(code)
        if rule is None:
            rule = self._loaded[code] = self.entries[code].load()
        return rule

    def lookup(self, code_or_name: str) -> str | None:
        key = code_or_name.strip()
        if key.upper() in self.entries:
            return key.upper()
        return self._by_name.get(key.lower())

    def expand(self, selector: str) -> set[str]:
        """Codes a selector stands for; empty when it matches nothing."""
        key = selector.strip()
        if key.upper() == "ALL":
            return set(self.entries)
        code = self.lookup(key)
        if code is not None:
            return {code}
        upper = key.upper()
        return {code for code in self.entries if code.startswith(upper)} if upper else set()

    def _expand_all(self, selectors: tuple[str, ...], warnings: list[str], where: str) -> set[str]:
        codes: set[str] = set()
        for selector in selectors:
            matched = self.expand(selector)
            if not matched:
                warnings.append(f"unknown rule selector {selector!r} in {where} (ignored); see `nnlint rule --all`")
            codes |= matched
        return codes

    def enabled_codes(self, settings: Settings, warnings: list[str]) -> set[str]:
        if settings.select is None:
            base = {code for code, entry in self.entries.items() if entry.default_enabled}
        else:
            base = self._expand_all(settings.select, warnings, "select")
        base |= self._expand_all(settings.extend_select, warnings, "extend-select")
        base -= self._expand_all(settings.ignore, warnings, "ignore")
        for _, codes in settings.per_file_ignores:
            self._expand_all(codes, warnings, "per-file-ignores")
        return base


class Selection:
    """The enabled rules, and which of them apply to a given file (per-file ignores)."""

    def __init__(self, registry: Registry, settings: Settings, warnings: list[str]) -> None:
        self.registry = registry
        self.codes = registry.enabled_codes(settings, warnings)
        self.root = Path(settings.project_root)
        self.per_file = [(pattern, registry._expand_all(codes, [], "")) for pattern, codes in settings.per_file_ignores]
        self._cache: dict[frozenset[str], list[type[Rule]]] = {}

    def codes_for(self, path: str) -> frozenset[str]:
        codes = set(self.codes)
        if self.per_file:
            candidate = Path(path)
            try:
                relative = candidate.resolve().relative_to(self.root.resolve()).as_posix()
            except (ValueError, OSError):
                relative = candidate.as_posix()
            for pattern, ignored in self.per_file:
                if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(candidate.name, pattern):
                    codes -= ignored
        return frozenset(codes)

    def rules_for(self, path: str) -> list[type[Rule]]:
        codes = self.codes_for(path)
        rules = self._cache.get(codes)
        if rules is None:
            rules = self._cache[codes] = [self.registry.load(code) for code in sorted(codes)]
        return rules
