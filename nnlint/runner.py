"""Many files: read, lint, and collect results in a deterministic order; in a process pool when
there is more than one file and more than one job."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from nnlint.engine import Engine
from nnlint.findings import FileError, FileResult
from nnlint.project import ClassHierarchy, module_name_for, roots_for
from nnlint.registry import Registry, Selection
from nnlint.semantic import ModuleSummary, collect_facts
from nnlint.settings import Settings
from nnlint.sources import SourceError, read_source


def summarise_file(path: Path, module: str, is_package: bool) -> ModuleSummary | None:
    """Imports and class bases of a file that some linted class inherits from."""
    import libcst as cst

    try:
        source = read_source(str(path))
        tree = cst.parse_module(source.text)
    except (SourceError, cst.ParserSyntaxError, RecursionError, ValueError):
        return None
    return collect_facts(tree, module, is_package).summary()


class FileLinter:
    """Lints files one at a time; one instance per process."""

    def __init__(self, settings: Settings, registry: Registry, roots: Sequence[Path]) -> None:
        self.settings = settings
        self.warnings: list[str] = []
        self.selection = Selection(registry, settings, self.warnings)
        self.hierarchy = ClassHierarchy(summarise_file, roots)
        self.engine = Engine(self.hierarchy)

    def lint_text(self, text: str, path: str, module_path: Path | None = None) -> FileResult:
        rules = self.selection.rules_for(path)
        module, is_package = "", False
        if module_path is not None:
            module, is_package, root = module_name_for(module_path)
            self.hierarchy.add_root(root)
        try:
            return self.engine.lint(text, path, rules, module or Path(path).stem, is_package)
        except RecursionError:
            return FileResult(path, errors=[FileError(path, "cannot analyse: nesting is too deep", kind="syntax")])

    def lint_path(self, path: str) -> FileResult:
        try:
            source = read_source(path)
        except SourceError as exc:
            return FileResult(path, errors=[FileError(path, exc.message, exc.line, None, exc.kind)])
        return self.lint_text(source.text, path, Path(path))


# -- process pool ------------------------------------------------------------------------------

_WORKER: FileLinter | None = None


def _init_worker(settings: Settings, roots: list[Path]) -> None:
    global _WORKER
    _WORKER = FileLinter(settings, Registry.with_plugins(), roots)


def _lint_in_worker(path: str) -> FileResult:
    assert _WORKER is not None
    return _WORKER.lint_path(path)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def lint_paths(
    files: Sequence[Path], settings: Settings, registry: Registry, jobs: int | None = None
) -> Iterator[FileResult]:
    """Results in the order of ``files``."""
    roots = roots_for(files)
    jobs = jobs or settings.jobs or default_jobs()
    # A pool costs ~0.1 s to start; it only pays off with several files per worker.
    jobs = min(jobs, max(1, len(files) // 4))
    if jobs <= 1:
        linter = FileLinter(settings, registry, roots)
        for path in files:
            yield linter.lint_path(str(path))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Warm the parser and import the rules once, so forked workers start ready.
    import libcst as cst

    cst.parse_module("x = 1\n")
    Selection(registry, settings, []).rules_for("warm.py")
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(settings, roots)) as pool:
        chunk = max(1, min(16, len(files) // (jobs * 8)))
        yield from pool.map(_lint_in_worker, [str(p) for p in files], chunksize=chunk)
