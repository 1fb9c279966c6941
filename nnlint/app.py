"""One `nnlint check` run: settings, discovery, linting, reporting, exit code."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING

from nnlint.findings import FileError, FileResult
from nnlint.settings import ConfigError, Settings, find_config, load_settings, with_overrides

if TYPE_CHECKING:
    from nnlint.fixing import FixMode

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


@dataclass
class CheckOptions:
    paths: list[str]
    config: Path | None = None
    isolated: bool = False
    select: list[str] | None = None
    extend_select: list[str] | None = None
    ignore: list[str] | None = None
    per_file_ignores: list[str] | None = None
    exclude: list[str] | None = None
    extend_exclude: list[str] | None = None
    force_exclude: bool | None = None
    respect_gitignore: bool | None = None
    stdin_filename: str | None = None
    output_format: str | None = None
    statistics: bool = False
    exit_zero: bool = False
    quiet: bool = False
    show_settings: bool = False
    show_files: bool = False
    jobs: int | None = None
    no_cache: bool = False
    cache_dir: str | None = None
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    exit_non_zero_on_fix: bool = False

    def fix_mode(self) -> FixMode:
        from nnlint.fixing import FixMode

        return FixMode.from_flags(self.fix, self.diff, self.unsafe_fixes)


def _per_file_ignores(values: list[str] | None) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    if values is None:
        return None
    parsed = []
    for value in values:
        pattern, sep, codes = value.rpartition(":")
        if not sep or not pattern or not codes.strip():
            raise ConfigError(f"--per-file-ignores {value!r}: expected PATTERN:CODES, e.g. 'tests/*:NN201'")
        parsed.append((pattern, tuple(c.strip() for c in codes.split(",") if c.strip())))
    return tuple(parsed)


def config_search_start(options: CheckOptions) -> Path:
    """Where the search for pyproject.toml starts: the deepest directory that holds every path
    linted (black's rule), so `nnlint ../other-project/src` uses other-project's settings. When
    nothing is found there, the search starts again from the current directory."""
    paths = [options.stdin_filename or "."] if options.paths == ["-"] else options.paths
    directories = []
    for path in paths:
        absolute = Path(os.path.abspath(path))
        directories.append(os.fspath(absolute if absolute.is_dir() else absolute.parent))
    try:
        return Path(os.path.commonpath(directories)) if directories else Path.cwd()
    except ValueError:  # paths on different drives
        return Path.cwd()


def resolve_settings(options: CheckOptions) -> Settings:
    config = options.config
    if config is None and not options.isolated:
        start = config_search_start(options)
        config = find_config(start)
        if config is None and start != Path.cwd():
            config = find_config(Path.cwd())
    settings = load_settings(config, options.isolated)
    tup = lambda v: None if v is None else tuple(v)  # noqa: E731
    per_file = _per_file_ignores(options.per_file_ignores)
    if options.jobs is not None and options.jobs < 1:
        raise ConfigError(f"--jobs {options.jobs}: expected a positive integer")
    return with_overrides(
        settings,
        select=tup(options.select),
        extend_select=tup(options.extend_select),
        ignore=tup(options.ignore),
        per_file_ignores=None if per_file is None else settings.per_file_ignores + per_file,
        exclude=tup(options.exclude),
        extend_exclude=None if options.extend_exclude is None else settings.extend_exclude + tuple(options.extend_exclude),
        force_exclude=options.force_exclude,
        respect_gitignore=options.respect_gitignore,
        output_format=options.output_format,
        jobs=options.jobs,
        # --cache-dir, then $NNLINT_CACHE_DIR, then cache-dir in the configuration
        cache_dir=options.cache_dir or os.environ.get("NNLINT_CACHE_DIR") or None,
    )


def run_check(options: CheckOptions, out: IO[str], err: IO[str]) -> int:
    from nnlint.registry import Registry

    try:
        settings = resolve_settings(options)
        registry = Registry.with_plugins()
    except (ConfigError, ValueError) as exc:
        err.write(f"nnlint: error: {exc}\n")
        return EXIT_ERROR
    except Exception as exc:  # a broken rule pack
        err.write(f"nnlint: error: {exc}\n")
        return EXIT_ERROR

    if options.show_settings:
        for field in fields(settings):
            out.write(f"{field.name.replace('_', '-')} = {getattr(settings, field.name)!r}\n")
        return EXIT_CLEAN

    warnings: list[str] = []
    from nnlint.registry import Selection

    Selection(registry, settings, warnings)  # validates selectors up front

    if options.paths == ["-"]:
        results, checked, sources = _lint_stdin(options, settings, registry, warnings)
    else:
        results, checked, sources, early = _lint_files(options, settings, registry, warnings, out)
        if early is not None:
            return early

    if not options.quiet:
        for warning in dict.fromkeys(warnings):
            err.write(f"nnlint: warning: {warning}\n")

    from nnlint.fixing import fix_report, write_diffs
    from nnlint.report import formatter, write_statistics

    results.sort(key=lambda r: r.path)
    report = fix_report(results, checked, sources, options.unsafe_fixes)
    report.project_root = settings.project_root
    if options.fix and not options.diff and options.paths == ["-"]:
        out = err  # stdout carries the fixed source
    if options.diff:
        write_diffs(report, out, err)
    elif options.statistics:
        write_statistics(report, out)
    else:
        fmt = settings.output_format
        if options.quiet and fmt in ("text", "concise"):
            from nnlint.report.text import _error_line, _line, _ordered
            from nnlint.findings import Finding

            for item in _ordered(report):
                out.write((_line(item, options.unsafe_fixes) if isinstance(item, Finding) else _error_line(item)) + "\n")
        else:
            formatter(fmt)(report, out)
    out.flush()
    if report.errors:
        return EXIT_ERROR
    if options.exit_zero:
        return EXIT_CLEAN
    if options.diff:
        return EXIT_FINDINGS if report.files_fixed else EXIT_CLEAN
    if report.findings or (options.exit_non_zero_on_fix and report.files_fixed):
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _lint_stdin(options, settings, registry, warnings):  # type: ignore[no-untyped-def]
    from nnlint.discovery import _Excluder
    from nnlint.fixing import fix_source, write_source
    from nnlint.runner import FileLinter
    from nnlint.sources import SourceError
    from nnlint.workspace import source_for

    path = options.stdin_filename or "-"
    mode = options.fix_mode()
    if options.stdin_filename and settings.force_exclude:
        if _Excluder(settings).excluded_explicitly(Path(path).absolute(), False):
            if mode.write:  # `--fix -` always gives the source back (an editor replaces its buffer)
                write_source(sys.stdout, sys.stdin.buffer.read())
            return [], 0, {}
    data = sys.stdin.buffer.read()
    linter = FileLinter(settings, registry, [Path.cwd()])
    module_path = Path(path) if options.stdin_filename else None
    try:
        source = source_for(path, data, module_path)
        result = fix_source(linter, source, mode) if mode.apply else linter.lint_source(source)
    except SourceError as exc:  # not decodable, or a notebook that is not valid notebook JSON
        if mode.write:
            write_source(sys.stdout, data)  # the buffer comes back unchanged
        return [FileResult(path, errors=[exc.file_error(path)])], 1, {}
    if mode.apply and mode.write:
        write_source(sys.stdout, result.new_data if result.new_data is not None else data)
    warnings.extend(linter.warnings)
    return [result], 1, {path: source.content()}


def _lint_files(options, settings, registry, warnings, out):  # type: ignore[no-untyped-def]
    from nnlint.discovery import discover
    from nnlint.runner import lint_paths

    found = discover(options.paths, settings)
    results: list[FileResult] = [
        FileResult(p, errors=[FileError(p, "no such file or directory", kind="io")]) for p in found.missing
    ]
    results += [FileResult(p, errors=[FileError(p, reason, kind="io")]) for p, reason in found.errors]
    if options.show_files:
        for path in found.files:
            out.write(f"{path}\n")
        return results, 0, {}, EXIT_CLEAN
    if not found.files and not results:
        warnings.append(f"no Python files found under {', '.join(options.paths)}")
    mode = options.fix_mode()
    if mode.apply:
        from nnlint.fixing import fix_paths

        results += list(fix_paths(found.files, settings, registry, mode, options.jobs))
    else:
        results += list(
            lint_paths(found.files, settings, registry, options.jobs, use_cache=not options.no_cache, warnings=warnings)
        )
    sources: dict[str, str] = {}
    if settings.output_format == "full":
        from nnlint.sources import SourceError, read_source

        for result in results:
            if result.findings:
                try:
                    sources[result.path] = read_source(result.path).text
                except SourceError:
                    pass
    for result in results:
        warnings.extend(result.warnings)
    return results, len(found.files), sources, None
