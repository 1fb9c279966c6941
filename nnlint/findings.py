"""The values that flow from the rules to the engine (NodeFix) and from the engine to the reports:
findings, fixes and per-file results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import libcst as cst


@dataclass(frozen=True)
class Edit:
    """Replace source text between two 1-based (line, column) positions."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str
    # In a notebook: the cell the edit lands in (1-based, counting every cell), which need not be
    # the finding's (a fix may add an import to the imports' cell); lines are in that cell.
    cell: int | None = None


@dataclass(frozen=True)
class NodeFix:
    """A fix as a rule expresses it: replace nodes by new nodes (or source text), and add the
    imports the new code needs (``"import copy"``). The engine turns it into text edits."""

    description: str
    applicability: str  # "safe" or "unsafe"
    replacements: tuple[tuple[cst.CSTNode, cst.CSTNode | str], ...]
    imports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fix:
    applicability: str  # "safe" or "unsafe"
    description: str
    edits: tuple[Edit, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One rule violation. Lines and columns are 1-based; end columns are exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    fix: Fix | None = None
    # In a notebook: the cell (1-based, counting every cell); line and columns are in that cell.
    cell: int | None = None

    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.line, self.column, self.code)

    def location(self) -> str:
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}:{self.column}"


@dataclass(frozen=True)
class FileError:
    """A file that could not be linted (or a rule that crashed on it): reported, never raised."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    kind: str = "error"  # "syntax", "decode", "io", "internal"
    cell: int | None = None  # in a notebook, as for Finding

    def location(self) -> str:
        if self.line is None:
            return self.path
        where = f"{self.path}:cell {self.cell}:{self.line}" if self.cell is not None else f"{self.path}:{self.line}"
        if self.column is None:
            return where
        return f"{where}:{self.column}"


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """The first error as one line, or None when the file was linted."""
        if not self.errors:
            return None
        first = self.errors[0]
        return f"{first.location()}: {first.message}"
