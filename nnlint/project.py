"""The cross-file class index: is this class an ``nn.Module``?

A class is a Module class when one of its bases is ``torch.nn.Module`` or a ``torch.nn`` layer, or
a class that is itself a Module class -- defined in the same file, or in another file of the
project (``from .backbone import Backbone``). Other files are found the way Python's import system
would find them, under the import roots of the linted files, and summarised lazily: only files
that some class actually inherits from are ever read, and each only once per process.

A file that is linted registers the summary the engine built from its LibCST tree; a file that is
only depended on is summarised with ``ast`` (ten times faster than a LibCST parse) by
:func:`summarise_source`, which mirrors ``semantic.collect_facts`` exactly -- results must not
depend on which files a process happened to lint first.

The hierarchy also records which modules each linted file consulted (and which file each came
from, or that none was found), so a cached result can be invalidated when one of them changes.

Nothing here imports LibCST at module level: the cache-hit path of the runner uses the path
helpers without paying for it.
"""

from __future__ import annotations

import ast
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from nnlint.semantic import ModuleSummary

# Summarise a file on disk: (path, module name, is_package) -> summary, or None if unreadable.
Summariser = Callable[[Path, str, bool], "ModuleSummary | None"]
T = TypeVar("T")


def _read_text_from_disk(path: str) -> str | None:
    """The default reader of other files' text (a FileLinter passes its Workspace's instead;
    project.py cannot import workspace.py without a cycle through notebooks and context)."""
    from nnlint.sources import SourceError, read_source

    try:
        return read_source(path).text
    except SourceError:
        return None


_MAX_CHAIN = 50  # a deeper chain of re-exports or bases is a cycle in practice


@lru_cache(maxsize=4096)
def _package_of(directory: Path) -> tuple[tuple[str, ...], Path]:
    """(package parts, import root) for a directory, walking up through ``__init__.py`` files."""
    if not (directory / "__init__.py").is_file() or directory.parent == directory:
        return (), directory
    parts, root = _package_of(directory.parent)
    return (*parts, directory.name), root


@lru_cache(maxsize=4096)
def _resolved_directory(directory: Path) -> Path:
    return directory.resolve()


def resolve_file(path: Path) -> Path:
    """``path.resolve()``, resolving each directory once per process (thousands of files share a
    few hundred directories); a file that is itself a symlink is resolved in full."""
    if os.path.islink(path):
        return path.resolve()
    return _resolved_directory(path.absolute().parent) / path.name


def module_name_for(path: Path, resolved: bool = False) -> tuple[str, bool, Path]:
    """(dotted module name, is_package, import root) of a source file, from its package layout."""
    if not resolved:
        path = resolve_file(path)
    is_package = path.name == "__init__.py"
    parts, root = _package_of(path.parent)
    if not is_package:
        parts = (*parts, path.stem)
    return ".".join(parts), is_package, root


def find_module_file(module: str, roots: Sequence[Path], site: bool = True) -> tuple[Path, bool] | None:
    """The file that ``import module`` would load under ``roots`` (first root wins), and whether
    it is a package's ``__init__.py``.

    With ``site``, a module whose top-level package is not under any of ``roots`` (not part of the
    linted project) is looked for where the running interpreter installs packages: see
    :func:`site_roots`."""
    relative = Path(*module.split("."))
    found = _find_under(relative, roots)
    if found is not None or not site:
        return found
    top = relative.parts[0]
    if len(relative.parts) > 1 and _find_under(Path(top), roots) is not None:
        return None  # the project's own package: never completed from site-packages
    return _find_under(relative, site_roots(top))


def _find_under(relative: Path, roots: Iterable[Path]) -> tuple[Path, bool] | None:
    for root in roots:
        for candidate, is_package in ((root / relative / "__init__.py", True), (root / relative.with_suffix(".py"), False)):
            if candidate.is_file():
                return candidate, is_package
    return None


@lru_cache(maxsize=1)
def _site_directories() -> tuple[tuple[Path, ...], dict[str, Path]]:
    """(the running interpreter's site-packages directories and the paths ``.pth`` files add,
    editable installs' package -> import root)."""
    import site
    import sys
    import sysconfig

    directories: list[str] = []
    try:
        directories += site.getsitepackages()
    except AttributeError:  # pragma: no cover - an old virtualenv's site module
        pass
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    paths = sysconfig.get_paths()
    directories += [paths["purelib"], paths["platlib"]]
    # Entries after the first site directory on sys.path come from .pth files (editable installs).
    normalised = {os.path.normcase(os.path.abspath(d)) for d in directories}
    entries = [os.path.normcase(os.path.abspath(p)) if p else "" for p in sys.path]
    first = next((i for i, entry in enumerate(entries) if entry in normalised), len(entries))
    directories += [path for path in sys.path[first + 1 :] if path and not path.endswith(".zip")]
    roots: list[Path] = []
    seen: set[str] = set()
    for directory in directories:
        key = os.path.normcase(os.path.abspath(directory))
        if key not in seen and os.path.isdir(directory):
            seen.add(key)
            roots.append(Path(directory))
    # setuptools' editable installs map each package to its directory in a meta path finder.
    editable: dict[str, Path] = {}
    for finder in sys.meta_path:
        module = sys.modules.get(getattr(finder, "__module__", "") or "")
        mapping = getattr(module, "MAPPING", None) if module is not None and module.__name__.startswith("__editable__") else None
        if isinstance(mapping, dict):
            for name, location in mapping.items():
                path = Path(location)
                if isinstance(name, str) and path.name in (name, f"{name}.py"):
                    editable.setdefault(name, path.parent)
    return tuple(roots), editable


def site_roots(top: str | None = None) -> tuple[Path, ...]:
    """Where the running interpreter would import installed packages from (its site-packages
    directories, paths added by ``.pth`` files, setuptools' editable installs), for ``top``."""
    roots, editable = _site_directories()
    if top is not None and top in editable:
        return (*roots, editable[top])
    return roots


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


class ClassHierarchy:
    """Which classes are Module classes: known names first (``torch.nn`` layers, the library table
    of nnlint/library.py, ``extend-module-bases``), then the project's files, then -- only for a
    base still unresolved whose top-level package is not the project's -- the packages installed
    where nnlint runs (``site_packages``), summarised like the project's files.

    ``known`` replaces the known-names test (the table's generator passes one without the table).
    """

    def __init__(
        self,
        summarise: Summariser,
        roots: Iterable[Path] = (),
        extra_bases: Iterable[str] = (),
        *,
        known: Callable[[str], bool] | None = None,
        site_packages: bool = True,
        read_text: Callable[[str], str | None] | None = None,
    ) -> None:
        if known is None:
            from nnlint.names import is_torch_module_name as known

        self._is_torch_module_name = known
        self._site_packages = site_packages
        self._summarise = summarise
        self._extra_bases = frozenset(extra_bases)  # `extend-module-bases` from the settings
        self._roots: list[Path] = []
        self._summaries: dict[str, ModuleSummary | None] = {}
        self._origins: dict[str, str | None] = {}  # module -> the file its summary came from
        # Verdicts, with the modules each one consulted (so a file that reuses a verdict depends
        # on the same modules as the file that first computed it).
        self._verdicts: dict[str, tuple[bool, frozenset[str]]] = {}
        self._current: tuple[str, str] | None = None  # (module, path) of the file being linted
        # The summary of the file being linted when other files would not find it under that module
        # name (a notebook, a stub, a file outside the import roots): visible to it alone.
        self._private: ModuleSummary | None = None
        self._consulted: set[str] = set()
        self._project_packages: dict[str, bool] = {}  # top-level package -> under the roots?
        # How other files' text is read (the linter's Workspace: open editor buffers, then disk),
        # and what was made of it for the project model (nnlint/classes.py), per file.
        self._read_text = read_text or _read_text_from_disk
        self._file_memos: dict[str, dict[str, object]] = {}
        for root in roots:
            self.add_root(root)

    def add_root(self, root: Path) -> None:
        if root not in self._roots:
            self._roots.append(root)
            self._project_packages.clear()

    def memo(self, kind: str, path: str, make: Callable[[str], T]) -> T | None:
        """``make(text of path)``, once per file until :meth:`forget` (None: unreadable). For
        analyses of other files' text that live as long as this hierarchy (``kind`` names them)."""
        memos = self._file_memos.setdefault(kind, {})
        if path not in memos:
            text = self._read_text(path)
            memos[path] = None if text is None else make(text)
        return memos[path]  # type: ignore[return-value]

    def forget(self, path: str) -> None:
        """Drop everything learnt from the file at ``path`` (its content changed): its module's
        summary, its memos, and every verdict (a verdict may rest on any file)."""
        for memos in self._file_memos.values():
            memos.pop(path, None)
        for module, origin in list(self._origins.items()):
            if origin == path:
                del self._origins[module]
                self._summaries.pop(module, None)
        self._verdicts.clear()

    # -- dependency recording (for the cache) -------------------------------------------------

    def begin_file(self, module: str, path: str) -> None:
        """Start recording the modules that linting the file at ``path`` consults."""
        self._current = (module, path)
        self._private = None
        self._consulted = set()

    def consulted(self) -> dict[str, str | None]:
        """Modules consulted since :meth:`begin_file` -> the file each summary came from (None:
        no file was found, or it could not be read). The file's own module is left out."""
        own = self._current[0] if self._current else None
        return {module: self._origins.get(module) for module in sorted(self._consulted) if module != own}

    # -- summaries ----------------------------------------------------------------------------

    def add_summary(self, summary: ModuleSummary) -> None:
        """Register the file being linted, already parsed by the engine, so it is never read twice
        -- for other files only if importing its module name would find this very file."""
        module, current = summary.module, self._current
        if not module:
            return
        if current is None:  # linted on its own (examples, tests): no other file to agree with
            self._summaries[module] = summary
            return
        found = find_module_file(module, self._roots, site=False)
        if found is not None and os.fspath(found[0]) == current[1]:
            self._summaries[module] = summary
            self._origins[module] = current[1]
        else:
            self._private = summary

    def _find_module(self, module: str) -> ModuleSummary | None:
        self._consulted.add(module)
        if self._private is not None and self._private.module == module:
            return self._private
        if module in self._summaries:
            return self._summaries[module]
        summary: ModuleSummary | None = None
        found = find_module_file(module, self._roots, site=False)
        if found is None and self._site_packages:
            found = self._find_installed(module)
        origin = None
        if found is not None:
            origin = os.fspath(found[0])
            summary = self._summarise(found[0], module, found[1])
        self._summaries[module] = summary
        self._origins[module] = origin
        return summary

    def _find_installed(self, module: str) -> tuple[Path, bool] | None:
        """``find_module_file``'s site-packages step, knowing which top-level packages are the
        project's (one scan of the roots per package, not per module)."""
        top = module.partition(".")[0]
        if top != module:
            mine = self._project_packages.get(top)
            if mine is None:
                mine = self._project_packages[top] = find_module_file(top, self._roots, site=False) is not None
            if mine:
                return None
        return _find_under(Path(*module.split(".")), site_roots(top))

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

    def lookup(self, qualname: str) -> tuple[ModuleSummary, str] | None:
        """The summary of the module that defines or re-exports ``qualname``, and the name there
        (recorded as a dependency of the file being linted)."""
        return self._lookup(qualname)

    def origin(self, module: str) -> str | None:
        """The file a looked-up module's summary came from (None: the file being linted, or none)."""
        return self._origins.get(module)

    # -- verdicts -----------------------------------------------------------------------------

    def is_module_class(self, qualname: str, bases: tuple[str, ...] | None = None) -> bool:
        """True when ``qualname`` (whose bases may be given directly) derives from nn.Module.

        Unknown classes answer False: nnlint stays silent where it cannot see.
        """
        if bases is not None:
            return any(self._verdict(base, 0, set())[0] for base in bases)
        return self._verdict(qualname, 0, set())[0]

    def _verdict(self, qualname: str, depth: int, seen: set[str]) -> tuple[bool, bool]:
        """(is a Module class, complete): a verdict cut short by a cycle or the depth limit is
        not complete and is not remembered, since it depends on where the walk started."""
        if self._is_torch_module_name(qualname) or qualname in self._extra_bases:
            return True, True
        known = self._verdicts.get(qualname)
        if known is not None:
            self._consulted |= known[1]
            return known[0], True
        if depth > _MAX_CHAIN or qualname in seen:
            return False, False
        if qualname.startswith("torch."):
            return False, True
        seen.add(qualname)
        outer, self._consulted = self._consulted, set()
        verdict, complete = False, True
        found = self._lookup(qualname)
        if found is not None:
            summary, name = found
            if name in summary.class_bases:
                targets: tuple[str, ...] = summary.class_bases[name]
            elif name in summary.aliases:
                targets = (summary.aliases[name],)
            else:
                targets = ()
            for base in targets:
                verdict, base_complete = self._verdict(base, depth + 1, seen)
                complete = complete and base_complete
                if verdict:
                    break
        mine, self._consulted = self._consulted, outer
        self._consulted |= mine
        if self._private is not None and self._private.module in mine:
            complete = False  # it saw a summary that only this file sees
        if complete:
            self._verdicts[qualname] = (verdict, frozenset(mine))
        return verdict, complete


# -- summaries of files that are depended on, with ast ----------------------------------------

def needs_libcst_summary(text: str) -> bool:
    """True when ``ast`` could see different names than LibCST: ast NFKC-normalises identifiers
    (and composes combining marks and Hangul jamo), LibCST keeps them as written. Only characters
    that may appear in an identifier matter."""
    if text.isascii():
        return False
    for char in set(text):
        if ord(char) < 128 or not ("a" + char).isidentifier():
            continue
        if unicodedata.normalize("NFKC", char) != char or unicodedata.category(char).startswith("M"):
            return True
        if 0x1100 <= ord(char) <= 0x11FF:
            return True
    return False


def summarise_source(text: str, module: str, is_package: bool) -> ModuleSummary | None:
    """The same summary as ``collect_facts(parse_module(text), ...).summary()``, from ``ast``.

    None when ``ast`` cannot parse the file, or when only LibCST gives the same answer (see
    :func:`needs_libcst_summary`); the caller then falls back to LibCST.
    """
    from nnlint.semantic import ModuleSummary, _relative_base, qualify

    if needs_libcst_summary(text):
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = _LINE.findall(text)
    aliases: dict[str, str] = {}
    classes: dict[str, ast.ClassDef] = {}
    # Same order as collect_facts: depth first, each statement before the ones nested in it.
    stack: list[tuple[ast.stmt, bool]] = [(stmt, True) for stmt in reversed(tree.body)]
    while stack:
        stmt, top_level = stack.pop()
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for local, target in _ast_import_aliases(stmt, module, is_package, _relative_base):
                if top_level or local not in aliases:
                    aliases[local] = target
            continue
        if isinstance(stmt, ast.ClassDef):
            if top_level:
                classes[stmt.name] = stmt
            inner_level = False
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner_level = False
        else:
            inner_level = top_level
        for inner in reversed(list(_nested_statements(stmt, lines))):
            stack.append((inner, inner_level))
    class_bases: dict[str, tuple[str, ...]] = {}
    for name, node in classes.items():
        resolved = []
        for base in node.bases:
            dotted = ast_dotted_name(base)
            if dotted is not None:
                resolved.append(qualify(dotted, aliases, classes, module))
        class_bases[name] = tuple(resolved)
    return ModuleSummary(module=module, aliases=aliases, class_bases=class_bases)


# Lines as Python counts them (``str.splitlines`` also splits on form feeds and others).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _nested_statements(stmt: ast.stmt, lines: list[str]) -> Iterator[ast.stmt]:
    """The statements of a compound statement's blocks in collect_facts' order (body, else,
    finally, except handlers, match cases). A block written on the header's line (``if x:
    import y``) is a LibCST ``SimpleStatementSuite``, whose statements collect_facts does not
    look into, so neither does this."""
    blocks: list[list[ast.stmt]] = [getattr(stmt, "body", None) or []]
    if not isinstance(stmt, ast.ClassDef):
        blocks += [getattr(stmt, "orelse", None) or [], getattr(stmt, "finalbody", None) or []]
        blocks += [handler.body for handler in getattr(stmt, "handlers", None) or ()]
        blocks += [case.body for case in getattr(stmt, "cases", None) or ()]
    for block in blocks:
        if block and not _on_header_line(block[0], lines):
            yield from block


def _on_header_line(first: ast.stmt, lines: list[str]) -> bool:
    line = lines[first.lineno - 1] if first.lineno <= len(lines) else ""
    return bool(line.encode()[: first.col_offset].strip())


def ast_dotted_name(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of ast Name/Attribute nodes, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _ast_import_aliases(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, relative_base: Callable[[str, bool, int], str]
) -> Iterator[tuple[str, str]]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname is not None:
                yield alias.asname, alias.name
            else:
                head = alias.name.split(".")[0]  # `import torch.nn` binds `torch`
                yield head, head
        return
    if any(alias.name == "*" for alias in node.names):
        return
    source = node.module or ""
    if node.level:
        base = relative_base(module, is_package, node.level)
        source = ".".join(p for p in (base, source) if p)
    for alias in node.names:
        local = alias.asname or alias.name
        yield local, f"{source}.{alias.name}" if source else alias.name
