"""The cross-file class index: is this class an ``nn.Module``?

A class is a Module class when one of its bases is ``torch.nn.Module`` or a ``torch.nn`` layer, or
a class that is itself a Module class -- defined in the same file, or in another file of the
project (``from .backbone import Backbone``). Other files are found the way Python's import system
would find them, under the import roots of the linted files, and summarised lazily: only files
that some class actually inherits from are ever read, and each only once per process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from nnlint.names import is_torch_module_name
from nnlint.semantic import ModuleSummary

# Summarise a file on disk: (path, module name, is_package) -> summary, or None if unreadable.
Summariser = Callable[[Path, str, bool], "ModuleSummary | None"]

_MAX_CHAIN = 50  # a deeper chain of re-exports or bases is a cycle in practice


def module_name_for(path: Path) -> tuple[str, bool, Path]:
    """(dotted module name, is_package, import root) of a source file, from its package layout."""
    path = path.resolve()
    is_package = path.name == "__init__.py"
    parts = [] if is_package else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.append(directory.name)
        directory = directory.parent
    parts.reverse()
    return ".".join(parts), is_package, directory


class ClassHierarchy:
    def __init__(self, summarise: Summariser, roots: Iterable[Path] = (), extra_bases: Iterable[str] = ()) -> None:
        self._summarise = summarise
        self._extra_bases = frozenset(extra_bases)  # `extend-module-bases` from the settings
        self._roots: list[Path] = []
        self._summaries: dict[str, ModuleSummary | None] = {}
        self._verdicts: dict[str, bool] = {}
        for root in roots:
            self.add_root(root)

    def add_root(self, root: Path) -> None:
        if root not in self._roots:
            self._roots.append(root)

    def add_summary(self, summary: ModuleSummary) -> None:
        """Register a file already parsed by the engine, so it is never read twice."""
        if summary.module:
            self._summaries[summary.module] = summary

    def _find_module(self, module: str) -> ModuleSummary | None:
        if module in self._summaries:
            return self._summaries[module]
        summary: ModuleSummary | None = None
        relative = Path(*module.split("."))
        for root in self._roots:
            for candidate, is_package in ((root / relative / "__init__.py", True), (root / relative.with_suffix(".py"), False)):
                if candidate.is_file():
                    summary = self._summarise(candidate, module, is_package)
                    break
            if summary is not None:
                break
        self._summaries[module] = summary
        return summary

    def _lookup(self, qualname: str) -> tuple[ModuleSummary, str] | None:
        """The module that defines or re-exports ``qualname``, and the name inside it."""
        parts = qualname.split(".")
        for split in range(len(parts) - 1, 0, -1):
            summary = self._find_module(".".join(parts[:split]))
            if summary is not None:
                if split != len(parts) - 1:
                    return None  # nested attribute of a module member: not a class we can see
                return summary, parts[split]
        return None

    def is_module_class(self, qualname: str, bases: tuple[str, ...] | None = None) -> bool:
        """True when ``qualname`` (whose bases may be given directly) derives from nn.Module.

        Unknown classes answer False: nnlint stays silent where it cannot see.
        """
        if bases is not None:
            return any(self._is_module(base, 0, set()) for base in bases)
        return self._is_module(qualname, 0, set())

    def _is_module(self, qualname: str, depth: int, seen: set[str]) -> bool:
        if is_torch_module_name(qualname) or qualname in self._extra_bases:
            return True
        if qualname in self._verdicts:
            return self._verdicts[qualname]
        if depth > _MAX_CHAIN or qualname in seen or qualname.startswith("torch."):
            return False
        seen.add(qualname)
        verdict = False
        found = self._lookup(qualname)
        if found is not None:
            summary, name = found
            if name in summary.class_bases:
                verdict = any(
                    self._is_module(base, depth + 1, seen) for base in summary.class_bases[name]
                )
            elif name in summary.aliases:
                verdict = self._is_module(summary.aliases[name], depth + 1, seen)
        self._verdicts[qualname] = verdict
        return verdict


def roots_for(paths: Iterable[Path]) -> list[Path]:
    """Distinct import roots of the given files, plus the current directory and its ``src``."""
    roots: list[Path] = []
    seen: set[str] = set()
    for path in paths:
        root = module_name_for(path)[2]
        key = os.fspath(root)
        if key not in seen:
            seen.add(key)
            roots.append(root)
    cwd = Path.cwd()
    for extra in (cwd, cwd / "src"):
        if os.fspath(extra) not in seen and extra.is_dir():
            seen.add(os.fspath(extra))
            roots.append(extra)
    return roots
