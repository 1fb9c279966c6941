"""`--fix` and `--diff`: the fix loop for one source, and writing fixed files without ever losing
the user's code.

For each file a worker lints, applies every applicable fix that does not overlap another, checks
that the result still parses (LibCST and ``compile()``), and re-lints, until no fix applies (at
most ``MAX_ROUNDS`` rounds). It sends back the bytes to write, in the file's own encoding, BOM and
line endings. Only the main process writes, each file atomically (a temporary file in the same
directory, fsync, ``os.replace``), so an interrupted run leaves every file either as it was or
fully fixed.
"""

from __future__ import annotations

import os
import signal
import stat
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from nnlint.findings import FileError, FileResult, Finding, Fix
from nnlint.report import Report

if TYPE_CHECKING:
    from nnlint.registry import Registry
    from nnlint.runner import FileLinter
    from nnlint.settings import Settings
    from nnlint.sources import Source

MAX_ROUNDS = 10
BUG_HINT = "this is a bug in nnlint; please report it with the file that triggers it"


@dataclass(frozen=True)
class FixMode:
    """What to do with fixes: ``apply`` computes the fixed source (``--fix``, ``--diff``);
    ``write`` writes it back (``--fix`` without ``--diff``); ``unsafe`` includes unsafe fixes."""

    apply: bool = False
    write: bool = False
    unsafe: bool = False

    @classmethod
    def from_flags(cls, fix: bool, diff: bool, unsafe: bool) -> FixMode:
        return cls(apply=fix or diff, write=fix and not diff, unsafe=unsafe)

    def applies(self, fix: Fix | None) -> bool:
        """Whether ``fix`` would be applied with these flags (what `[*]` marks)."""
        return fix is not None and (fix.applicability == "safe" or self.unsafe)


@dataclass
class FixedFile(FileResult):
    """A file after the fix loop: the findings that remain, what was fixed, and what to write."""

    applied: dict[str, int] = field(default_factory=dict)  # rule code -> fixes applied
    new_data: bytes | None = None  # the fixed file's bytes; None when nothing changed
    diff: str = ""
    # (mtime_ns, size) when read: the file is not written if it changed since.
    read_stamp: tuple[int, int] | None = None


@dataclass
class FixReport(Report):
    """A report that knows the fix flags: the text formats mark only the fixes `--fix` would
    apply and count the hidden unsafe ones."""

    unsafe_fixes: bool = False
    applied: Counter[str] = field(default_factory=Counter)
    files_fixed: int = 0


# -- the fix loop ------------------------------------------------------------------------------


@dataclass
class FixOutcome:
    text: str
    result: FileResult  # the lint of ``text``: the findings that remain
    original: FileResult  # the lint of the source before any fix
    applied: Counter[str]
    failure: FileError | None = None  # when set, ``text`` is the original source


def fix_text(source: str, path: str, lint: Callable[[str], FileResult], applies: Callable[[Fix | None], bool]) -> FixOutcome:
    """Apply fixes round by round until none applies. A round whose result does not parse is
    refused, and the source is returned unchanged with a failure naming the rule(s) at fault."""
    text, applied = source, Counter[str]()
    result = original = lint(source)
    # A source CPython already rejects (LibCST accepts e.g. `return` outside a function) cannot be
    # made worse by failing compile(): then only LibCST's parse of each round is checked.
    compiles: bool | None = None
    from nnlint.fixes import apply_fixes  # LibCST: only loaded when something is fixed

    for _ in range(MAX_ROUNDS):
        fixable = [f for f in result.findings if applies(f.fix)]
        if not fixable:
            return FixOutcome(text, result, original, applied)
        round_ = apply_fixes(text, fixable)
        if round_.text == text:  # fixes that change nothing: nothing to do
            return FixOutcome(text, result, original, applied)
        if compiles is None:
            compiles = _cpython_compiles(source, path)
        problem = parse_problem(round_.text, path, compiles)
        if problem is not None:
            culprits = _culprits(text, round_.applied, path, compiles) or sorted({f.code for f in round_.applied})
            message = (
                f"fix for {', '.join(culprits)} would make the file invalid ({problem}); "
                f"the file was left unchanged; {BUG_HINT}"
            )
            return FixOutcome(source, original, original, Counter(), FileError(path, message, kind="fix"))
        applied.update(f.code for f in round_.applied)
        text = round_.text
        result = lint(text)
    still = sorted({f.code for f in result.findings if applies(f.fix)})
    if still:
        result.warnings.append(
            f"{path}: fixes for {', '.join(still)} were still applicable after {MAX_ROUNDS} rounds; "
            f"the rest were applied; {BUG_HINT}"
        )
    return FixOutcome(text, result, original, applied)


def parse_problem(text: str, path: str, compiles: bool = True) -> str | None:
    """Why ``text`` is not valid Python for LibCST and (when ``compiles``) CPython, or None."""
    import libcst as cst

    from nnlint.parsing import parse_module

    try:
        if compiles:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes is not our business
                compile(text, path, "exec", dont_inherit=True)
        parse_module(text)  # the parser the next round of linting uses
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} at line {exc.lineno}"
    except cst.ParserSyntaxError as exc:
        return f"LibCST cannot parse it: {exc.message.splitlines()[0] if exc.message else 'invalid syntax'} at line {exc.raw_line}"
    except Exception as exc:  # RecursionError, MemoryError, a LibCST bug
        return f"{type(exc).__name__}: {exc}"
    return None


def _culprits(text: str, applied: Sequence[Finding], path: str, compiles: bool) -> list[str]:
    """The rules whose fix alone breaks ``text``."""
    from nnlint.fixes import apply_fixes

    return sorted({f.code for f in applied if parse_problem(apply_fixes(text, [f]).text, path, compiles) is not None})


def _cpython_compiles(text: str, path: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


# -- one file ----------------------------------------------------------------------------------


def encode(text: str, encoding: str) -> bytes:
    """``text`` in the file's encoding; ``utf-8-sig`` puts the BOM back."""
    return text.encode(encoding)


def fix_source(linter: FileLinter, source: Source, mode: FixMode) -> FixedFile:
    """The fix loop for one Source (a file, a notebook, stdin): fixes are applied to its Python
    text; findings, the new content and the diff come back in the source's own terms."""
    path = source.path
    outcome = fix_text(source.text, path, lambda t: linter.lint_text(t, path, source.module_path), mode.applies)
    if outcome.failure is not None or outcome.text == source.text:
        located = source.locate(outcome.result)
        fixed = FixedFile(path, list(located.findings), list(located.errors), list(located.warnings))
        if outcome.failure is not None:
            fixed.errors.append(outcome.failure)
        return fixed
    after = source.fixed(outcome.text)
    result = outcome.result if after.text == outcome.text else linter.lint_text(after.text, path, source.module_path)
    located = after.locate(result)
    fixed = FixedFile(path, list(located.findings), list(located.errors), list(located.warnings))
    try:
        fixed.new_data = encode(after.content(), source.encoding)
    except UnicodeEncodeError as exc:
        codes = ", ".join(sorted(outcome.applied))
        fixed.errors.append(
            FileError(path, f"fix for {codes} adds {exc.object[exc.start:exc.end]!r}, which {source.encoding} cannot encode; the file was left unchanged", kind="fix")
        )
        fixed.findings = list(source.locate(outcome.original).findings)
        return fixed
    fixed.applied = dict(outcome.applied)
    fixed.diff = source.diff(after)
    return fixed


def fix_path(linter: FileLinter, path: str, mode: FixMode) -> FixedFile:
    from nnlint.sources import SourceError
    from nnlint.workspace import source_for

    try:
        with open(path, "rb") as handle:
            data = handle.read()
            info = os.fstat(handle.fileno())
    except IsADirectoryError:
        return FixedFile(path, errors=[FileError(path, "is a directory", kind="io")])
    except OSError as exc:
        return FixedFile(path, errors=[FileError(path, f"cannot read: {exc.strerror or exc}", kind="io")])
    try:
        fixed = fix_source(linter, source_for(path, data, Path(path)), mode)
    except SourceError as exc:
        return FixedFile(path, errors=[exc.file_error(path)])
    fixed.read_stamp = (info.st_mtime_ns, info.st_size)
    return fixed


# -- writing -----------------------------------------------------------------------------------


def write_atomically(path: str, data: bytes, read_stamp: tuple[int, int] | None = None) -> str | None:
    """Replace the file at ``path`` (through symlinks) by ``data``, keeping its permission bits
    (and owner, where allowed). Returns why it was not written, or None."""
    target = os.path.realpath(path)
    try:
        info = os.stat(target)
    except OSError as exc:
        return f"cannot write: {exc.strerror or exc}"
    if read_stamp is not None and (info.st_mtime_ns, info.st_size) != read_stamp:
        return "changed on disk while nnlint was fixing it; not written (run again)"
    if not os.access(target, os.W_OK):  # replacing it would work, but the user protected it
        return "is read-only; not written"
    import tempfile  # only a run that writes needs it

    directory, name = os.path.split(target)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".nnlint-fix", dir=directory)
    except OSError as exc:
        return f"cannot write: {exc.strerror or exc}"
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        if hasattr(os, "chown") and (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(temporary, info.st_uid, info.st_gid)
            except OSError:
                pass  # not allowed: the file becomes ours, as any editor would leave it
        os.replace(temporary, target)
    except BaseException as exc:  # also on SIGINT/SIGTERM: leave no temporary file behind
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(exc, OSError):
            return f"cannot write: {exc.strerror or exc}"
        raise
    _fsync_directory(directory)
    return None


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (best effort: not every system allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the writes in progress clean up and the CLI exits."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While fixing, turn SIGTERM into an exception between two writes instead of an abrupt
    death (which could leave a temporary file behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the few milliseconds of one write, so that an interruption
    lands between files, never between creating the temporary file and replacing the original."""
    blockable = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    if not blockable:
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def finish(result: FixedFile, mode: FixMode) -> FixedFile:
    """Write a fixed file (main process only). A write that fails becomes the file's error."""
    if mode.write and result.new_data is not None:
        with _signals_deferred():
            problem = write_atomically(result.path, result.new_data, result.read_stamp)
        if problem is not None:
            result.errors.append(FileError(result.path, problem, kind="io"))
            result.applied = {}
            result.new_data = None
    return result


# -- many files --------------------------------------------------------------------------------

_WORKER: FileLinter | None = None
_WORKER_MODE = FixMode()


def _init_worker(settings: Settings, roots: list[Path], mode: FixMode) -> None:
    global _WORKER, _WORKER_MODE
    from nnlint.registry import Registry
    from nnlint.runner import FileLinter

    # Workers never write; the main process handles Ctrl-C and SIGTERM and stops them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _WORKER, _WORKER_MODE = FileLinter(settings, Registry.with_plugins(), roots), mode


def _fix_chunk(paths: list[str]) -> list[FixedFile]:
    assert _WORKER is not None
    return [fix_path(_WORKER, path, _WORKER_MODE) for path in paths]


def fix_paths(
    files: Sequence[Path], settings: Settings, registry: Registry, mode: FixMode, jobs: int | None = None
) -> Iterator[FixedFile]:
    """Fix ``files`` (in a process pool when it pays), writing each as its result arrives when
    ``mode.write``; results in the order of ``files``."""
    from nnlint.project import roots_for
    from nnlint.runner import FileLinter, default_jobs

    files = _distinct(files)
    roots = roots_for(files)
    jobs = jobs or settings.jobs or default_jobs()
    jobs = min(jobs, max(1, len(files) // 4))  # a pool only pays off with several files per worker
    with terminate_as_interrupt():
        if jobs <= 1:
            linter = FileLinter(settings, registry, roots)
            for path in files:
                yield finish(fix_path(linter, str(path), mode), mode)
            return
        yield from _fix_in_pool(files, settings, registry, mode, roots, jobs)


def _distinct(files: Sequence[Path]) -> list[Path]:
    """One path per real file: a file reached twice (through a symlink) is fixed once."""
    seen: set[str] = set()
    distinct = []
    for path in files:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            distinct.append(path)
    return distinct


def _fix_in_pool(
    files: Sequence[Path], settings: Settings, registry: Registry, mode: FixMode, roots: list[Path], jobs: int
) -> Iterator[FixedFile]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import libcst as cst

    from nnlint.registry import Selection

    # Warm the parser and import the rules once, so forked workers start ready.
    cst.parse_module("x = 1\n")
    Selection(registry, settings, []).rules_for("warm.py")
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(settings, roots, mode))
    paths = [str(p) for p in files]
    size = max(1, min(16, len(paths) // (jobs * 8)))
    # Chunks submitted one by one rather than pool.map: map cancels its futures when closed, and
    # a cancelled future makes the pool's manager thread crash when the workers are terminated.
    futures = [pool.submit(_fix_chunk, paths[start : start + size]) for start in range(0, len(paths), size)]
    completed = False
    try:
        for future in futures:
            for result in future.result():
                yield finish(result, mode)
        completed = True
    finally:
        if not completed:  # interrupted: stop the workers at once (they write nothing)
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=completed)


# -- reporting ---------------------------------------------------------------------------------


def fix_report(results: Sequence[FileResult], checked: int, sources: dict[str, str], unsafe_fixes: bool) -> FixReport:
    applied: Counter[str] = Counter()
    files_fixed = 0
    for result in results:
        if isinstance(result, FixedFile) and result.applied:
            applied.update(result.applied)
            files_fixed += 1
    return FixReport(results, checked, sources, unsafe_fixes=unsafe_fixes, applied=applied, files_fixed=files_fixed)


def write_diffs(report: FixReport, out: IO[str], err: IO[str]) -> None:
    """`--diff`: the diffs on ``out``, a one-line count on ``err`` (like ruff)."""
    for result in report.results:
        if isinstance(result, FixedFile) and result.diff:
            out.write(result.diff)
    total = sum(report.applied.values())
    summary = (
        f"Would fix {_plural(total, 'finding')} in {_plural(report.files_fixed, 'file')} ({_by_rule(report.applied)})"
        if total
        else "No fixes to apply"
    )
    hidden = 0 if report.unsafe_fixes else sum(1 for f in report.findings if f.fix is not None and f.fix.applicability != "safe")
    if hidden:
        summary += f"; {_plural(hidden, 'hidden fix', 'hidden fixes')} can be enabled with `--unsafe-fixes`"
    err.write(summary + ".\n")


def fixed_summary(report: FixReport) -> str:
    """`Fixed 7 findings in 3 files (NN301: 5, NN101: 2)`, or "" when nothing was fixed."""
    total = sum(report.applied.values())
    if not total:
        return ""
    return f"Fixed {_plural(total, 'finding')} in {_plural(report.files_fixed, 'file')} ({_by_rule(report.applied)})"


def _by_rule(applied: Counter[str]) -> str:
    return ", ".join(f"{code}: {count}" for code, count in sorted(applied.items(), key=lambda item: (-item[1], item[0])))


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def write_source(out: IO[str], data: bytes) -> None:
    """The fixed source of stdin, byte for byte (its encoding, BOM and line endings)."""
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:  # a text stream without bytes underneath (tests): the text is what matters
        from nnlint.sources import SourceError, decode

        try:
            out.write(decode(data).text)
        except SourceError:
            out.write(data.decode("latin-1"))
