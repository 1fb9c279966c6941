"""What the server lints as one unit -- a Python document, or a whole notebook -- frozen at one
version (a Snapshot), and how its spans land in editor documents (a .py file, or a cell)."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace import Workspace

from nnlint.server.core import NotebookCell, Span

PYTHON_LANGUAGES = frozenset({"python"})


def path_of(uri: str) -> str:
    """The file a document stands for; an untitled buffer gets a relative name (no module)."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path:
        return path
    name = uri.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "untitled"
    return name if name.endswith((".py", ".pyi", ".ipynb")) else name + ".py"


def is_python_document(document: types.TextDocumentItem) -> bool:
    return document.language_id in PYTHON_LANGUAGES or document.uri.endswith((".py", ".pyi"))


@dataclass(frozen=True)
class Snapshot:
    """A unit's content at one version. For a notebook, ``cells`` lists every cell (markdown
    too) and ``cell_uris`` their documents: cell number N (1-based, as the core counts) is
    ``cell_uris[N - 1]``."""

    uri: str
    path: str
    version: int
    text: str = ""
    cells: tuple[NotebookCell, ...] | None = None
    cell_uris: tuple[str, ...] = ()

    @property
    def is_notebook(self) -> bool:
        return self.cells is not None

    def document_of(self, span: Span) -> str:
        """The URI of the editor document ``span`` lies in."""
        if span.cell is None:
            return self.uri
        return self.cell_uris[span.cell - 1]

    def text_of(self, document_uri: str) -> str | None:
        """The text a span of ``document_uri`` was computed on."""
        if self.cells is None:
            return self.text if document_uri == self.uri else None
        for uri, cell in zip(self.cell_uris, self.cells):
            if uri == document_uri:
                return cell.source
        return None

    def documents(self) -> tuple[str, ...]:
        """Every editor document this unit publishes diagnostics to (code cells of a notebook)."""
        if self.cells is None:
            return (self.uri,)
        return tuple(uri for uri, cell in zip(self.cell_uris, self.cells) if cell.kind == "code")


def python_snapshot(workspace: Workspace, uri: str) -> Snapshot | None:
    document = workspace.text_documents.get(uri)
    if document is None:
        return None
    return Snapshot(uri, path_of(uri), document.version or 0, document.source)


def notebook_snapshot(workspace: Workspace, uri: str) -> Snapshot | None:
    notebook = workspace.get_notebook_document(notebook_uri=uri)
    if notebook is None:
        return None
    cells, uris = [], []
    for cell in notebook.cells:
        document = workspace.text_documents.get(cell.document)
        source = document.source if document is not None else ""
        if cell.kind == types.NotebookCellKind.Markup:
            kind = "markdown"
        elif document is not None and document.language_id not in PYTHON_LANGUAGES:
            kind = "raw"  # a code cell in another language: not linted
        else:
            kind = "code"
        cells.append(NotebookCell(kind, source))
        uris.append(cell.document)
    return Snapshot(uri, path_of(uri), notebook.version, cells=tuple(cells), cell_uris=tuple(uris))
