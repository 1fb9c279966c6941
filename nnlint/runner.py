"""Many files: answer unchanged ones from the cache, lint the rest -- in a process pool when there
is enough work for one -- and hand the results back in the order of the files.

Startup matters (a pre-commit hook often lints one file): LibCST, the engine and the rules are
imported only when some file has to be linted, and the process pool only when there is enough of
it to pay for the pool's start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nnlint.findings import FileError, FileResult
from nnlint.project import find_module_file, module_name_for, resolve_file, roots_for
from nnlint.sources import Source, SourceError
from nnlint.workspace import Workspace, read_bytes, source_for

if TYPE_CHECKING:
    from nnlint.cache import Cache
    from nnlint.registry import Registry, Selection
    from nnlint.semantic import ModuleSummary
    from nnlint.settings import Settings

# A worker process costs ~50 ms to start and feed; LibCST parses ~300-500 kB of source a second,
# so a second worker pays off from about this much source.
BYTES_PER_WORKER = 128 * 1024
MIN_CHUNK_BYTES = 16 * 1024  # smaller batches cost more in messages than they gain in balance
CRASHED_WORKER = (
    "a worker process died while linting this file or another in its batch; "
    "run with -j 1 to find the file, and please report it"
)


_RULE_KEYS: dict[frozenset[str], str] = {}


def rules_key(codes: frozenset[str]) -> str:
    key = _RULE_KEYS.get(codes)
    if key is None:
        import hashlib

        key = _RULE_KEYS[codes] = hashlib.sha256(",".join(sorted(codes)).encode()).hexdigest()[:16]
    return key


class FileLinter:
    """Lints Sources one at a time; one instance per process (or per editor session). Every file
    it reads -- the one it lints and the ones it consults -- comes through its Workspace."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        roots: Sequence[Path],
        cache: Cache | None = None,
        workspace: Workspace | None = None,
        incremental: bool = False,
    ) -> None:
        """``incremental``: re-parse only the top-level statements that changed since this linter
        last parsed the same file (an editor's linter; see nnlint/incremental.py)."""
        from nnlint.engine import Engine
        from nnlint.project import ClassHierarchy
        from nnlint.registry import Selection

        self.settings = settings
        self.warnings: list[str] = []
        self.selection = Selection(registry, settings, self.warnings)
        self.cache = cache
        self.workspace = workspace or Workspace()
        self.hierarchy = ClassHierarchy(self._summarise, roots, settings.extend_module_bases, read_text=self.workspace.read_text)
        if incremental:
            from nnlint.incremental import IncrementalParser

            self.engine = Engine(self.hierarchy, settings, IncrementalParser().parse)
        else:
            self.engine = Engine(self.hierarchy, settings)
        self.engine.known_codes = frozenset(registry.codes())
        self._digests: dict[str, str | None] = {}  # file -> content hash of what this process read

    def lint_source(self, source: Source) -> FileResult:
        """Lint a Source; locations in the source's own coordinates (cells for a notebook)."""
        module, is_package, key = "", False, source.path
        if source.module_path is not None:
            module, is_package, root = module_name_for(source.module_path)
            self.hierarchy.add_root(root)
            key = os.fspath(resolve_file(source.module_path))
        return source.locate(self._lint(source.text, source.path, key, module, is_package))

    def lint_text(self, text: str, path: str, module_path: Path | None = None) -> FileResult:
        """Lint Python text as if it were the file ``path`` (``module_path``: where it lives)."""
        return self.lint_source(Source(path, text, module_path=module_path))

    def dependencies(self) -> list[str]:
        """The files the last lint consulted (base classes, helpers of other files)."""
        return sorted({origin for origin in self.hierarchy.consulted().values() if origin is not None})

    def forget(self, path: str) -> None:
        """Drop what was learnt from the file at ``path`` (an editor changed it)."""
        key = self.workspace.key(path)
        self._digests.pop(key, None)
        self.hierarchy.forget(key)

    def _lint(self, text: str, path: str, key: str, module: str, is_package: bool) -> FileResult:
        rules = self.selection.rules_for(path)
        module = module or Path(path).stem
        self.hierarchy.begin_file(module, key)
        try:
            return self.engine.lint(text, path, rules, module, is_package)
        except RecursionError:
            return FileResult(path, errors=[FileError(path, "cannot analyse: nesting is too deep", kind="syntax")])

    def lint_path(self, path: str) -> FileResult:
        """Lint one file and, when there is a cache, store its result."""
        try:
            data = self.workspace.read_bytes(path)
        except SourceError as exc:
            return FileResult(path, errors=[exc.file_error(path)])
        resolved = resolve_file(Path(path))
        module, is_package, root = module_name_for(resolved, resolved=True)
        self.hierarchy.add_root(root)
        key = os.fspath(resolved)
        digest = None
        if self.cache is not None:
            from nnlint.cache import content_digest

            digest = self._digests[key] = content_digest(data)
        try:
            source = source_for(path, data, resolved)
        except SourceError as exc:
            return FileResult(path, errors=[exc.file_error(path)])
        result = source.locate(self._lint(source.text, path, key, module, is_package))
        if self.cache is not None and digest is not None and not any(e.kind in ("io", "decode") for e in result.errors):
            deps = [(name, origin, self._digest_of(origin)) for name, origin in self.hierarchy.consulted().items()]
            codes = self.selection.codes_for(path)
            self.cache.store_result(key, digest, module, is_package, rules_key(codes), deps, result)
        return result

    def _digest_of(self, path: str | None) -> str | None:
        if path is None:
            return None
        if path not in self._digests:
            from nnlint.cache import content_digest

            try:
                self._digests[path] = content_digest(self.workspace.read_bytes(path))
            except SourceError:
                self._digests[path] = None
        return self._digests[path]

    def _summarise(self, path: Path, module: str, is_package: bool) -> ModuleSummary | None:
        """Imports and class bases of a file that some linted class inherits from: from the
        cache, else with ``ast``, else (rare: see project.needs_libcst_summary) with LibCST."""
        from nnlint.cache import content_digest
        from nnlint.project import summarise_source
        from nnlint.sources import decode

        key = os.fspath(path)
        try:
            data = self.workspace.read_bytes(key)
        except SourceError:
            self._digests[key] = None
            return None
        digest = self._digests[key] = content_digest(data)
        if self.cache is not None:
            cached = self.cache.load_summary(key, digest, module, is_package)
            if cached is not None:
                return cached
        try:
            text = decode(data).text
        except SourceError:
            return None
        summary = summarise_source(text, module, is_package)
        if summary is None:
            summary = _libcst_summary(text, module, is_package)
        if summary is not None and self.cache is not None:
            self.cache.store_summary(key, digest, is_package, summary)
        return summary


def _libcst_summary(text: str, module: str, is_package: bool) -> ModuleSummary | None:
    from nnlint.parsing import parse_module
    from nnlint.semantic import collect_facts
    from nnlint.sources import too_deeply_nested

    if too_deeply_nested(text, module) is not None:  # LibCST would crash or take minutes
        return None
    try:
        tree = parse_module(text)
    except Exception:  # a syntax error, or LibCST failing on the file (as the engine reports)
        return None  # the file that inherits from it is linted, knowing less
    return collect_facts(tree, module, is_package).summary()


# -- the cache, seen from the main process ------------------------------------------------------


class _DependencyCheck:
    """Is a dependency recorded in a cache entry still what the hierarchy would find now: the same
    file for the module (or still none), with the same content?"""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = roots
        self._resolved: dict[str, str | None] = {}
        self._digests: dict[str, str | None] = {}

    def __call__(self, module: str, path: str | None, digest: str | None) -> bool:
        if module not in self._resolved:
            found = find_module_file(module, self.roots)
            self._resolved[module] = os.fspath(found[0]) if found is not None else None
        if self._resolved[module] != path:
            return False
        if path is None:
            return True
        if path not in self._digests:
            from nnlint.cache import content_digest

            try:
                self._digests[path] = content_digest(read_bytes(path))
            except SourceError:
                self._digests[path] = None
        return self._digests[path] == digest


def open_cache(settings: Settings, codes: frozenset[str], registry: Registry) -> Cache:
    from nnlint.cache import Cache, default_cache_dir, settings_key

    directory = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    return Cache.open(directory, settings_key(settings, codes, registry))


def _cached_result(cache: Cache, selection: Selection, check: _DependencyCheck, path: str) -> tuple[FileResult | None, int]:
    """(the cached result or None, the file's size)."""
    from nnlint.cache import content_digest

    try:
        data = read_bytes(path)
    except SourceError:
        return None, 0  # the linter reports it
    resolved = resolve_file(Path(path))
    module, is_package, _ = module_name_for(resolved, resolved=True)
    result = cache.load_result(
        path,
        os.fspath(resolved),
        content_digest(data),
        module,
        is_package,
        rules_key(selection.codes_for(path)),
        check,
    )
    return result, len(data)


# -- many files ---------------------------------------------------------------------------------


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class _InOrder:
    """Results arrive in any order and leave in the order of the files."""

    def __init__(self, slots: list[FileResult | None]) -> None:
        self.slots = slots
        self.next = 0

    def put(self, index: int, result: FileResult) -> Iterator[FileResult]:
        self.slots[index] = result
        return self.ready()

    def ready(self) -> Iterator[FileResult]:
        while self.next < len(self.slots) and self.slots[self.next] is not None:
            result = self.slots[self.next]
            self.slots[self.next] = None  # handed out: do not keep it twice
            self.next += 1
            yield result  # type: ignore[misc]


def lint_paths(
    files: Sequence[Path],
    settings: Settings,
    registry: Registry,
    jobs: int | None = None,
    *,
    use_cache: bool = True,
    warnings: list[str] | None = None,
) -> Iterator[FileResult]:
    """Results in the order of ``files``. Problems with the cache go to ``warnings``."""
    from nnlint.registry import Selection

    warnings = warnings if warnings is not None else []
    roots = roots_for(files)
    selection = Selection(registry, settings, [])
    cache = open_cache(settings, frozenset(selection.codes), registry) if use_cache else None
    order = _InOrder([None] * len(files))
    todo: list[tuple[int, str, int]] = []  # (index, path, size)
    check = _DependencyCheck(roots) if cache is not None else None
    for index, file in enumerate(files):
        path = str(file)
        if cache is None or check is None:
            todo.append((index, path, _size(path)))
            continue
        hit, size = _cached_result(cache, selection, check, path)
        if hit is None:
            todo.append((index, path, size))
        else:
            yield from order.put(index, hit)
    if cache is not None:
        warnings.extend(cache.take_warnings())
    if not todo:
        return
    requested = jobs or settings.jobs or default_jobs()
    workers = min(requested, len(todo), max(1, sum(size for *_, size in todo) // BYTES_PER_WORKER))
    if workers <= 1:
        linter = FileLinter(settings, registry, roots, cache)
        for index, path, _ in todo:
            yield from order.put(index, linter.lint_path(path))
        if cache is not None:
            warnings.extend(cache.take_warnings())
        return
    yield from _lint_in_pool(todo, workers, order, settings, registry, roots, cache, warnings)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _chunks(todo: list[tuple[int, str, int]], workers: int) -> list[list[tuple[int, str]]]:
    """Largest files first, in batches that shrink as the work left shrinks (guided scheduling):
    few messages, and no worker left with a long file at the end while the others idle."""
    ordered = sorted(todo, key=lambda item: -item[2])
    remaining = sum(size for *_, size in ordered)
    chunks: list[list[tuple[int, str]]] = []
    chunk: list[tuple[int, str]] = []
    chunk_bytes = 0
    for index, path, size in ordered:
        chunk.append((index, path))
        chunk_bytes += size
        if chunk_bytes >= max(MIN_CHUNK_BYTES, remaining / (workers * 4)):
            chunks.append(chunk)
            remaining -= chunk_bytes
            chunk, chunk_bytes = [], 0
    if chunk:
        chunks.append(chunk)
    return chunks


# -- process pool -------------------------------------------------------------------------------

_WORKER: FileLinter | None = None


def _init_worker(settings: Settings, roots: list[Path], cache_spec: tuple[str, str] | None) -> None:
    """Build the worker's linter -- unless it was forked with one ready."""
    global _WORKER
    if _WORKER is not None:
        return
    from nnlint.cache import Cache
    from nnlint.registry import Registry

    cache = Cache.open(Path(cache_spec[0]), cache_spec[1]) if cache_spec else None
    _WORKER = FileLinter(settings, Registry.with_plugins(), roots, cache)


def _lint_chunk(chunk: list[tuple[int, str]]) -> tuple[list[tuple[int, FileResult]], list[str]]:
    assert _WORKER is not None
    results = [(index, _WORKER.lint_path(path)) for index, path in chunk]
    return results, _WORKER.cache.take_warnings() if _WORKER.cache is not None else []


def _crashed(path: str) -> FileResult:
    return FileResult(path, errors=[FileError(path, CRASHED_WORKER, kind="internal")])


def _lint_in_pool(
    todo: list[tuple[int, str, int]],
    workers: int,
    order: _InOrder,
    settings: Settings,
    registry: Registry,
    roots: list[Path],
    cache: Cache | None,
    warnings: list[str],
) -> Iterator[FileResult]:
    global _WORKER
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    import libcst as cst

    # Import and warm everything once, so forked workers start ready to lint.
    cst.parse_module("x = 1\n")
    linter = FileLinter(settings, registry, roots, cache)
    for code in linter.selection.codes:
        registry.load(code)
    fork = "fork" in multiprocessing.get_all_start_methods()
    _WORKER = linter if fork else None
    cache_spec = (os.fspath(cache.directory), cache.settings_key) if cache else None
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork" if fork else "spawn"),
        initializer=_init_worker,
        initargs=(settings, roots, cache_spec),
    )
    pending: dict[object, list[tuple[int, str]]] = {}
    try:
        pending = {pool.submit(_lint_chunk, chunk): chunk for chunk in _chunks(todo, workers)}
        for future in as_completed(list(pending)):
            chunk = pending.pop(future)
            try:
                results, chunk_warnings = future.result()
            except BrokenProcessPool:
                results = [(index, _crashed(path)) for index, path in chunk]
                chunk_warnings = []
            warnings.extend(chunk_warnings)
            for index, result in results:
                yield from order.put(index, result)
    finally:
        _WORKER = None
        pool.shutdown(wait=True, cancel_futures=True)
