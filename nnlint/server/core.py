"""The server's one door into nnlint's linter: settings, linting, fixing and rule docs.

Every call the server makes into the linter core is in this module, so that the core's pipeline
(``nnlint.sources`` Sources, ``nnlint.workspace.Workspace``) can replace today's API here alone.
Nothing here knows about LSP: it takes paths and texts and gives back plain values in 0-based
code-point coordinates (``Span``), which nnlint/server/protocol.py turns into LSP positions.

Today's API and what this module does around it, until the Workspace lands:

- open buffers must win over the disk for cross-file facts (a class of an unsaved ``model.py``),
  but ``FileLinter`` reads other files from the disk. ``_BufferAwareLinter`` answers them from the
  buffers first (it overrides ``FileLinter._summarise``, the one place the class index reads files);
- ``FileLinter``'s class index remembers summaries and verdicts for the life of the process (the
  CLI lints each file once), which goes stale in an editor. So each lint gets a fresh linter
  (~2 ms), and the summaries of other files are kept here, keyed by content, so that a fresh
  linter does not re-read unchanged files;
- notebooks are linted through ``nnlint.notebooks.Notebook`` (the cells joined into one virtual
  module) and mapped back to cells here, fixes' edits included (the core's mapping drops the
  cell of an edit, which may lie in another cell than its finding: an added import).
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# runner imports LibCST only when a file is linted: importing it here costs nothing.
from nnlint.runner import FileLinter

if TYPE_CHECKING:
    from nnlint.findings import Edit, FileResult, Finding
    from nnlint.notebooks import Notebook
    from nnlint.registry import Registry
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


class LintCore:
    """Settings per directory, open buffers, and lint / fix / docs for the server (one per server;
    used from the server's single lint thread only)."""

    def __init__(self) -> None:
        self._buffers: dict[str, str] = {}  # real path -> text of an open editor buffer
        self._settings: dict[str, FolderSettings] = {}  # directory -> its settings
        self._registry: Registry | None = None
        # (real path, module, is_package, content key) -> summary of another file (or None)
        self._summaries: dict[tuple[str, str, bool, object], Any] = {}

    # -- buffers (planned core API: Workspace.set_buffer / drop_buffer) -----------------------

    def set_buffer(self, path: str, text: str) -> None:
        self._buffers[real_path(path)] = text

    def drop_buffer(self, path: str) -> None:
        self._buffers.pop(real_path(path), None)

    def buffer_text(self, path: str) -> str | None:
        return self._buffers.get(real_path(path))

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
        from nnlint.project import roots_for

        settings = self.settings_for(path).settings
        return _BufferAwareLinter(self, settings, self.registry(), roots_for([Path(path)]))

    def lint_python(self, path: str, text: str) -> LintOutcome:
        """Lint a Python buffer as the file ``path``. Raises LintCrash on a bug in nnlint."""
        linter = self._linter(path)
        module_path = _module_path(path)
        try:
            result = linter.lint_text(text, path, module_path)
        except Exception as exc:
            raise LintCrash(path, exc) from exc
        return _outcome(result, _dependencies(linter), lambda line, column: (None, line, column))

    def lint_notebook(self, path: str, cells: Sequence[NotebookCell]) -> LintOutcome:
        """Lint a notebook's cells as one module (as the CLI lints an .ipynb file)."""
        from nnlint.sources import SourceError

        try:
            notebook = _notebook(path, cells)
        except SourceError as exc:
            return LintOutcome(unlintable=[Unlintable(exc.message, None)])
        linter = self._linter(path)
        try:
            result = linter.lint_text(notebook.text, path, _module_path(path))
        except Exception as exc:
            raise LintCrash(path, exc) from exc
        return _outcome(result, _dependencies(linter), notebook.cell_position)

    # -- fixing (planned core API: one fix entry point on a Source) -----------------------------

    def fix_python(self, path: str, text: str, unsafe: bool = False) -> str | None:
        """The text with every safe (and, with ``unsafe``, unsafe) fix applied, or None when
        nothing changes or the fixes would break the file."""
        return self._fix(path, text, unsafe)

    def fix_notebook(self, path: str, cells: Sequence[NotebookCell], unsafe: bool = False) -> dict[int, str]:
        """Cell number -> new source of each cell the fixes change."""
        from nnlint.sources import SourceError

        try:
            notebook = _notebook(path, cells)
        except SourceError:
            return {}
        fixed = self._fix(path, notebook.text, unsafe)
        if fixed is None:
            return {}
        try:
            rendered = json.loads(notebook.render(fixed))
        except SourceError:
            return {}
        changed = {}
        for number, (cell, new) in enumerate(zip(cells, rendered["cells"]), 1):
            source = new["source"] if isinstance(new["source"], str) else "".join(new["source"])
            if source != cell.source:
                changed[number] = source
        return changed

    def _fix(self, path: str, text: str, unsafe: bool) -> str | None:
        from nnlint.fixing import fix_text

        linter = self._linter(path)
        module_path = _module_path(path)
        try:
            outcome = fix_text(
                text,
                path,
                lambda current: linter.lint_text(current, path, module_path),
                lambda fix: fix is not None and (fix.applicability == "safe" or unsafe),
            )
        except Exception as exc:
            raise LintCrash(path, exc) from exc
        if outcome.failure is not None or outcome.text == text:
            return None
        return outcome.text

    # -- docs ---------------------------------------------------------------------------------

    def rule_doc(self, code: str) -> str | None:
        """The rule's page (`nnlint rule CODE`), in Markdown."""
        from nnlint.docs import rule_page

        registry = self.registry()
        found = registry.lookup(code)
        return None if found is None else rule_page(registry.load(found))

    # -- summaries of other files, for _BufferAwareLinter ---------------------------------------

    def summary_of(self, path: Path, module: str, is_package: bool, from_disk: Callable[[], Any]) -> Any:
        key_path = real_path(os.fspath(path))
        text = self._buffers.get(key_path)
        if text is not None:
            content: object = ("buffer", hash(text), len(text))
        else:
            try:
                info = os.stat(key_path)
            except OSError:
                return from_disk()
            content = ("disk", info.st_mtime_ns, info.st_size)
        key = (key_path, module, is_package, content)
        if key not in self._summaries:
            if len(self._summaries) > 4096:  # files edited many times: keep memory bounded
                self._summaries.clear()
            self._summaries[key] = from_disk() if text is None else _summarise_text(text, module, is_package)
        return self._summaries[key]


def _summarise_text(text: str, module: str, is_package: bool) -> Any:
    from nnlint.project import summarise_source
    from nnlint.runner import _libcst_summary

    summary = summarise_source(text, module, is_package)
    return summary if summary is not None else _libcst_summary(text, module, is_package)


class _BufferAwareLinter(FileLinter):
    """A FileLinter whose class index reads other files from the open buffers first."""

    def __init__(self, core: LintCore, settings: Settings, registry: Registry, roots: Sequence[Path]) -> None:
        self._core = core
        super().__init__(settings, registry, roots)

    def _summarise(self, path: Path, module: str, is_package: bool) -> Any:
        return self._core.summary_of(path, module, is_package, lambda: super(_BufferAwareLinter, self)._summarise(path, module, is_package))


def _module_path(path: str) -> Path | None:
    """The path that names the file's module, or None for a buffer with no file (untitled)."""
    return Path(path) if os.path.isabs(path) else None


def _dependencies(linter: FileLinter) -> frozenset[str]:
    return frozenset(real_path(origin) for origin in linter.hierarchy.consulted().values() if origin)


def _notebook(path: str, cells: Sequence[NotebookCell]) -> Notebook:
    """The editor's cells as the notebook file the core reads (planned: sources.notebook_source)."""
    from nnlint.notebooks import Notebook

    data = {
        "cells": [{"cell_type": cell.kind, "metadata": {}, "source": cell.source} for cell in cells],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return Notebook.from_text(json.dumps(data), path)


# (line, column), 1-based in the linted text -> (cell or None, line, column), 1-based
Locate = Callable[[int, int], "tuple[int | None, int, int]"]


def _span(locate: Locate, line: int, column: int, end_line: int, end_column: int) -> Span | None:
    cell, start_line, start_column = locate(line, column)
    end_cell, stop_line, stop_column = locate(end_line, end_column)
    if end_cell != cell:
        return None
    return Span(start_line - 1, start_column - 1, stop_line - 1, stop_column - 1, cell)


def _outcome(result: FileResult, dependencies: frozenset[str], locate: Locate) -> LintOutcome:
    outcome = LintOutcome(dependencies=dependencies)
    for finding in result.findings:
        span = _span(locate, finding.line, finding.column, finding.end_line, finding.end_column)
        if span is None:  # a range over two cells: keep it on its first line
            cell, line, column = locate(finding.line, finding.column)
            span = Span(line - 1, column - 1, line - 1, column, cell)
        outcome.problems.append(Problem(finding.code, finding.name, finding.message, span, _quick_fix(finding, locate)))
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
