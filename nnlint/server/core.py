"""The server's one door into nnlint's linter: settings, linting, fixing and rule docs.

Every call the server makes into the linter core is in this module. Nothing here knows about LSP:
it takes paths and texts and gives back plain values in 0-based code-point coordinates (``Span``),
which nnlint/server/protocol.py turns into LSP positions.

It sits on the core's one pipeline (DESIGN.md, "Sources and the workspace"): a ``Workspace`` holds
the open buffers, which win over the disk for cross-file facts; one long-lived ``FileLinter`` per
configuration reads through it and ``forget``s what it learnt from a file when that file changes;
buffers are linted as ``Source``s (``NotebookSource`` for notebooks), and fixed with the CLI's
``fix_source``.

One thing is mapped here rather than by the Source: a notebook's fix edits. ``Edit`` carries no
cell, so ``NotebookSource.locate`` cannot say which cell an edit lands in, and a fix may edit
another cell than its finding (``import copy`` goes to the imports' cell). So notebooks are linted
on their virtual module and every location, edits included, is mapped with the notebook's line map.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnlint.findings import Edit, FileResult, Finding
    from nnlint.notebooks import NotebookSource
    from nnlint.registry import Registry
    from nnlint.runner import FileLinter
    from nnlint.settings import Settings


# -- what the server gets back ------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A range in a document: 0-based lines, 0-based columns counted in code points, end exclusive.
    ``cell`` is the notebook cell (1-based over all cells, markdown included), None in a .py file."""

    line: int
    column: int
    end_line: int
    end_column: int
    cell: int | None = None


@dataclass(frozen=True)
class Change:
    span: Span
    content: str


@dataclass(frozen=True)
class QuickFix:
    safe: bool
    description: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Problem:
    """One finding of a rule."""

    code: str
    name: str
    message: str
    span: Span
    fix: QuickFix | None = None
    tags: frozenset[str] = frozenset()  # the rule's (Rule.tags): "deprecated", "unnecessary"


@dataclass(frozen=True)
class Unlintable:
    """Why a document could not be linted (a syntax error, a broken notebook): shown to the user."""

    message: str
    span: Span | None


@dataclass
class LintOutcome:
    problems: list[Problem] = field(default_factory=list)
    unlintable: list[Unlintable] = field(default_factory=list)
    # Bugs in nnlint (a rule that crashed): logged, never shown as diagnostics.
    crashes: list[str] = field(default_factory=list)
    # The files (real paths) whose content the lint consulted: re-lint when one of them changes.
    dependencies: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NotebookCell:
    """A cell as the editor holds it: ``kind`` is "code", "markdown" or "raw"."""

    kind: str
    source: str


class LintCrash(Exception):
    """An exception escaped the linter: a bug in nnlint. ``details`` holds the traceback."""

    def __init__(self, path: str, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.path = path
        self.details = "".join(traceback.format_exception(exc))


def real_path(path: str) -> str:
    return os.path.realpath(path)


# -- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderSettings:
    settings: Settings
    config_path: str | None
    error: str | None = None  # a broken [tool.nnlint]: defaults are used, and the user is told

    def excludes(self, path: str) -> bool:
        """Whether ``path`` is left alone: as on the command line, a file named explicitly (here:
        opened) is linted even when `exclude` matches it, unless `force-exclude` is set."""
        if not self.settings.force_exclude or not os.path.isfile(path):
            return False
        from nnlint.discovery import discover

        return not discover([path], self.settings).files


class LintCore:
    """Settings per directory, open buffers, and lint / fix / docs for the server (one per server;
    used from the server's single lint thread only)."""

    def __init__(self) -> None:
        from nnlint.workspace import Workspace

        self.workspace = Workspace()
        self._settings: dict[str, FolderSettings] = {}  # directory -> its settings
        self._linters: dict[tuple[str | None, str], FileLinter] = {}  # (config file, settings hash) -> linter
        self._registry: Registry | None = None

    # -- buffers ------------------------------------------------------------------------------

    def set_buffer(self, path: str, text: str) -> None:
        """The editor holds ``text`` for ``path``: lints see it instead of the disk."""
        self.workspace.set_buffer(path, text)
        self.changed(path)

    def drop_buffer(self, path: str) -> None:
        """The editor closed ``path``: the disk counts again."""
        self.workspace.drop_buffer(path)
        self.changed(path)

    def changed(self, path: str) -> None:
        """The content of ``path`` changed (buffer or disk): forget what was learnt from it."""
        for linter in self._linters.values():
            linter.forget(path)

    # -- settings -----------------------------------------------------------------------------

    def settings_for(self, path: str) -> FolderSettings:
        """The settings of the closest pyproject.toml with [tool.nnlint] above ``path`` (as the
        CLI finds them for a file named on its command line)."""
        directory = os.path.dirname(os.path.abspath(path))
        found = self._settings.get(directory)
        if found is None:
            from nnlint.settings import ConfigError, Settings, load_settings

            start = Path(directory) if os.path.isdir(directory) else Path.cwd()
            try:
                settings = load_settings(None, start=start)
                found = FolderSettings(settings, settings.config_path)
            except ConfigError as exc:
                found = FolderSettings(Settings(project_root=os.fspath(start)), None, str(exc))
            self._settings[directory] = found
        return found

    def forget_settings(self) -> None:
        """A pyproject.toml changed: read the configuration again on the next lint."""
        self._settings.clear()
        self._linters.clear()

    def registry(self) -> Registry:
        if self._registry is None:
            from nnlint.registry import Registry

            self._registry = Registry.with_plugins()
        return self._registry

    def warm_up(self) -> None:
        """Import LibCST, the engine and every rule now, so the first edit is not the slow one."""
        self.lint_python(os.path.join(os.getcwd(), "__nnlint_warm_up__.py"), "import torch\nx = 1\n")

    # -- linting ------------------------------------------------------------------------------

    def _linter(self, path: str) -> FileLinter:
        """The linter of ``path``'s settings, kept across lints (what it learns from a file is
        dropped by :meth:`changed`)."""
        settings = self.settings_for(path).settings
        key = (settings.config_path, settings.fingerprint())
        linter = self._linters.get(key)
        if linter is None:
            from nnlint.project import roots_for
            from nnlint.runner import FileLinter

            linter = FileLinter(
                settings, self.registry(), roots_for([Path(path)]), workspace=self.workspace, incremental=True
            )
            self._linters[key] = linter
        return linter

    def lint_python(self, path: str, text: str) -> LintOutcome:
        """Lint a Python buffer as the file ``path``. Raises LintCrash on a bug in nnlint."""
        from nnlint.sources import Source

        if self.settings_for(path).excludes(path):
            return LintOutcome()
        linter = self._linter(path)
        try:
            result = linter.lint_source(Source(path, text, module_path=_module_path(path)))
        except Exception as exc:
            raise LintCrash(path, exc) from exc
        return _outcome(result, _dependencies(linter), lambda line, column: (None, line, column), self.rule_tags)

    def lint_notebook(self, path: str, cells: Sequence[NotebookCell]) -> LintOutcome:
        """Lint a notebook's cells as one module (as the CLI lints an .ipynb file)."""
        from nnlint.sources import Source, SourceError

        if self.settings_for(path).excludes(path):
            return LintOutcome()
        try:
            notebook = _notebook_source(path, cells)
        except SourceError as exc:
            return LintOutcome(unlintable=[Unlintable(exc.message, None)])
        linter = self._linter(path)
        virtual = Source(path, notebook.text, module_path=notebook.module_path)  # located below, edits too
        try:
            result = linter.lint_source(virtual)
        except Exception as exc:
            raise LintCrash(path, exc) from exc
        return _outcome(result, _dependencies(linter), notebook.notebook.cell_position, self.rule_tags)

    # -- fixing -------------------------------------------------------------------------------

    def fix_python(self, path: str, text: str, unsafe: bool = False) -> str | None:
        """The text with every safe (and, with ``unsafe``, unsafe) fix applied, or None when
        nothing changes or the fixes would break the file."""
        from nnlint.sources import Source

        fixed = self._fix(Source(path, text, module_path=_module_path(path)), unsafe)
        return None if fixed is None else fixed.decode("utf-8")

    def fix_notebook(self, path: str, cells: Sequence[NotebookCell], unsafe: bool = False) -> dict[int, str]:
        """Cell number -> new source of each cell the fixes change."""
        from nnlint.sources import SourceError

        try:
            fixed = self._fix(_notebook_source(path, cells), unsafe)
        except SourceError:
            return {}
        if fixed is None:
            return {}
        changed = {}
        for number, (cell, new) in enumerate(zip(cells, json.loads(fixed)["cells"]), 1):
            source = new["source"] if isinstance(new["source"], str) else "".join(new["source"])
            if source != cell.source:
                changed[number] = source
        return changed

    def _fix(self, source: Any, unsafe: bool) -> bytes | None:
        """The fixed content of ``source`` (what `--fix` would write), or None."""
        from nnlint.fixing import FixMode, fix_source

        linter = self._linter(source.path)
        try:
            fixed = fix_source(linter, source, FixMode(apply=True, unsafe=unsafe))
        except Exception as exc:
            raise LintCrash(source.path, exc) from exc
        finally:
            linter.forget(source.path)  # the fix rounds' versions of the file are not the buffer
        if any(error.kind == "fix" for error in fixed.errors):
            return None
        return fixed.new_data

    # -- docs ---------------------------------------------------------------------------------

    def rule_tags(self, code: str) -> frozenset[str]:
        """The editor tags the rule declares (Rule.tags)."""
        registry = self.registry()
        return registry.load(code).tags if code in registry.entries else frozenset()

    def rule_doc(self, code: str) -> str | None:
        """The rule's page (`nnlint rule CODE`), in Markdown."""
        from nnlint.docs import rule_page

        registry = self.registry()
        found = registry.lookup(code)
        return None if found is None else rule_page(registry.load(found))


def _module_path(path: str) -> Path | None:
    """The path that names the file's module, or None for a buffer with no file (untitled)."""
    return Path(path) if os.path.isabs(path) else None


def _dependencies(linter: FileLinter) -> frozenset[str]:
    return frozenset(real_path(origin) for origin in linter.dependencies())


def _notebook_source(path: str, cells: Sequence[NotebookCell]) -> NotebookSource:
    """The editor's cells as the notebook file the core reads."""
    from nnlint.notebooks import NotebookSource

    data = {
        "cells": [{"cell_type": cell.kind, "metadata": {}, "source": cell.source} for cell in cells],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return NotebookSource.from_text(json.dumps(data), path, module_path=_module_path(path))


# (line, column), 1-based in the linted text -> (cell or None, line, column), 1-based
Locate = Callable[[int, int], "tuple[int | None, int, int]"]


def _span(locate: Locate, line: int, column: int, end_line: int, end_column: int) -> Span | None:
    cell, start_line, start_column = locate(line, column)
    end_cell, stop_line, stop_column = locate(end_line, end_column)
    if end_cell != cell:
        return None
    return Span(start_line - 1, start_column - 1, stop_line - 1, stop_column - 1, cell)


def _outcome(
    result: FileResult, dependencies: frozenset[str], locate: Locate, tags_of: Callable[[str], frozenset[str]]
) -> LintOutcome:
    outcome = LintOutcome(dependencies=dependencies)
    for finding in result.findings:
        span = _span(locate, finding.line, finding.column, finding.end_line, finding.end_column)
        if span is None:  # a range over two cells: keep it on its first line
            cell, line, column = locate(finding.line, finding.column)
            span = Span(line - 1, column - 1, line - 1, column, cell)
        outcome.problems.append(
            Problem(finding.code, finding.name, finding.message, span, _quick_fix(finding, locate), tags_of(finding.code))
        )
    for error in result.errors:
        if error.kind == "internal":
            outcome.crashes.append(f"{error.location()}: {error.message}")
            continue
        span = None
        if error.line is not None:
            cell, line, column = locate(error.line, error.column or 1)
            span = Span(line - 1, column - 1, line - 1, column, cell)
        outcome.unlintable.append(Unlintable(error.message, span))
    return outcome


def _quick_fix(finding: Finding, locate: Locate) -> QuickFix | None:
    if finding.fix is None or not finding.fix.edits:
        return None
    changes = []
    for edit in finding.fix.edits:
        change = _change(edit, locate)
        if change is None:  # an edit over a cell boundary cannot be made in the editor
            return None
        changes.append(change)
    return QuickFix(finding.fix.applicability == "safe", finding.fix.description, tuple(changes))


def _change(edit: Edit, locate: Locate) -> Change | None:
    span = _span(locate, edit.line, edit.column, edit.end_line, edit.end_column)
    return None if span is None else Change(span, edit.content)
