"""Paths -> Python files to lint: recursion, default and configured excludes, .gitignore.

Like ruff: a file named explicitly is linted even when excluded, unless ``force_exclude`` is on
(pre-commit passes files explicitly, so its hook turns it on). Results are sorted, so the same
tree always gives the same order.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from nnlint.gitignore import GitIgnore, git_root
from nnlint.settings import Settings

PYTHON_SUFFIXES = (".py", ".pyi", ".ipynb")  # notebooks: see nnlint/notebooks.py


@dataclass
class Discovered:
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # paths given that do not exist
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


class _Excluder:
    def __init__(self, settings: Settings) -> None:
        self.patterns = tuple(settings.exclude) + tuple(settings.extend_exclude)
        self.root = Path(settings.project_root).resolve()
        self.respect_gitignore = settings.respect_gitignore
        self._ignores: dict[Path, GitIgnore | None] = {}
        self._git_root_cache: dict[Path, Path | None] = {}

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def by_pattern(self, path: Path) -> bool:
        name = path.name
        relative = self._relative(path)
        for pattern in self.patterns:
            pattern = pattern.rstrip("/")
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(relative, pattern):
                return True
        return False

    def _gitignore(self, directory: Path) -> GitIgnore | None:
        if directory not in self._ignores:
            candidate = directory / ".gitignore"
            self._ignores[directory] = GitIgnore.read(candidate) if candidate.is_file() else None
        return self._ignores[directory]

    def _info_exclude(self, top: Path) -> GitIgnore | None:
        key = top / ".git" / "info" / "exclude"
        if key not in self._ignores:
            self._ignores[key] = GitIgnore.read(key) if key.is_file() else None
        return self._ignores[key]

    def by_gitignore(self, path: Path, is_dir: bool) -> bool:
        if not self.respect_gitignore:
            return False
        parent = path.parent
        if parent not in self._git_root_cache:
            self._git_root_cache[parent] = git_root(parent)
        top = self._git_root_cache[parent]
        if top is None:
            return False
        chain = [d for d in (parent, *parent.parents) if d == top or top in d.parents]
        verdict = False
        matchers = [self._info_exclude(top), *(self._gitignore(d) for d in reversed(chain))]
        for matcher in matchers:
            if matcher is None:
                continue
            result = matcher.match(path, is_dir)
            if result is not None:
                verdict = result
        return verdict

    def excluded(self, path: Path, is_dir: bool) -> bool:
        return self.by_pattern(path) or self.by_gitignore(path, is_dir)

    def excluded_explicitly(self, path: Path, is_dir: bool) -> bool:
        """For a path named explicitly under force-exclude (pre-commit, an editor): excluded when
        it, or a directory above it inside the project, is -- as the walk would have pruned that
        directory (`exclude = ["generated"]` covers `generated/model.py`, like ruff)."""
        if self.excluded(path, is_dir):
            return True
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                return False
            if self.excluded(parent, True):
                return True
        return False


def _is_regular_file(entry: os.DirEntry[str]) -> bool:
    """Only regular files: reading a FIFO or a device named `x.py` would block or never end."""
    try:
        return entry.is_file()
    except OSError:
        return False


def discover(paths: list[str], settings: Settings) -> Discovered:
    found = Discovered()
    excluder = _Excluder(settings)
    seen: set[Path] = set()
    visited_dirs: set[tuple[int, int]] = set()

    def add(path: Path) -> None:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            found.files.append(path)

    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            found.missing.append(raw)
            continue
        absolute = path.absolute()
        if path.is_file():
            if settings.force_exclude and excluder.excluded_explicitly(absolute, False):
                continue
            add(path)
            continue
        if not path.is_dir():
            found.errors.append((raw, "not a regular file or directory (a broken symlink, a FIFO or a device?)"))
            continue
        if settings.force_exclude and excluder.excluded_explicitly(absolute, True):
            continue
        stack = [path]
        while stack:
            directory = stack.pop()
            try:
                stat = directory.stat()
                key = (stat.st_dev, stat.st_ino)
                if key in visited_dirs:
                    continue  # a symlink loop
                visited_dirs.add(key)
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                found.errors.append((str(directory), f"cannot list directory: {exc.strerror or exc}"))
                continue
            subdirs = []
            for entry in entries:
                child = Path(entry.path)
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if excluder.excluded(child.absolute(), is_dir):
                    continue
                if is_dir:
                    subdirs.append(child)
                elif entry.name.endswith(PYTHON_SUFFIXES) and _is_regular_file(entry):
                    add(child)
            stack.extend(reversed(subdirs))
    found.files.sort(key=lambda p: p.as_posix())
    return found
