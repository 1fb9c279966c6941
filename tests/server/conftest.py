"""An editor for the server's tests: pytest-lsp's LanguageClient talking to `nnlint server` in a
subprocess, over stdio, in a temporary project."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

pytest.importorskip("pygls")
pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pygls.protocol import default_converter  # noqa: E402
from pytest_lsp import LanguageClient, client_capabilities  # noqa: E402
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features  # noqa: E402

SERVER = [sys.executable, "-m", "nnlint", "server"]
HERE = Path(__file__).resolve().parent
TIMEOUT_S = 60  # the machine is shared: a slow lint is not a failure, a missing one is


class Editor(LanguageClient):
    """A client that keeps every publishDiagnostics it receives, in order."""

    published: list[types.PublishDiagnosticsParams]

    def diagnostics_for(self, uri: str) -> list[types.Diagnostic]:
        for params in reversed(self.published):
            if params.uri == uri:
                return list(params.diagnostics)
        return []

    async def wait_for(self, condition: Callable[[], object], what: str, timeout: float = TIMEOUT_S) -> object:
        """Poll until ``condition()`` is truthy; fail naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; published: {[(p.uri, p.version) for p in self.published]}")
            await asyncio.sleep(0.02)

    async def wait_for_diagnostics(self, uri: str, version: int | None = None, after: int = 0) -> list[types.Diagnostic]:
        """The first diagnostics published for ``uri`` (at ``version``, when given) among the
        notifications from index ``after`` on."""

        def found() -> list[types.Diagnostic] | None:
            for params in self.published[after:]:
                if params.uri == uri and (version is None or params.version == version):
                    return list(params.diagnostics) or [None]  # type: ignore[list-item]
            return None

        result = await self.wait_for(found, f"diagnostics for {uri} (version {version})")
        return [d for d in result if d is not None]  # type: ignore[union-attr]

    # -- documents ------------------------------------------------------------------------

    def open(self, path: Path, text: str | None = None, version: int = 1) -> str:
        uri = path.as_uri()
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri, "python", version, path.read_text() if text is None else text)
            )
        )
        return uri

    def replace(self, uri: str, text: str, version: int) -> None:
        """Send the document's whole new text (a full-content change)."""
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )


def _record_diagnostics(client: Editor, params: types.PublishDiagnosticsParams) -> None:
    client.published.append(params)
    client.diagnostics[params.uri] = params.diagnostics


def _accept_registration(client: Editor, params: types.RegistrationParams) -> None:
    client.registrations.extend(params.registrations)


def make_editor() -> Editor:
    client = Editor(converter_factory=default_converter)
    client.published = []
    client.registrations = []  # type: ignore[attr-defined]
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _record_diagnostics
    features[types.CLIENT_REGISTER_CAPABILITY] = _accept_registration
    register_lsp_features(client, features)
    return client


def editor_capabilities() -> types.ClientCapabilities:
    """VS Code's capabilities as pytest-lsp records them, plus notebook sync (LSP 3.17)."""
    capabilities = client_capabilities("visual-studio-code")
    capabilities.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities(execution_summary_support=False)
    )
    return capabilities


async def start_editor(
    root: Path,
    command: list[str] | None = None,
    options: dict | None = None,
    capabilities: types.ClientCapabilities | None = None,
) -> Editor:
    client = make_editor()
    await client.start_io(*(command or SERVER), cwd=str(root))
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or editor_capabilities(),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"debounceMs": 10, **(options or {})},
        )
    )
    return client


async def stop_editor(client: Editor) -> None:
    await asyncio.wait_for(client.shutdown_session(), TIMEOUT_S)
    await client.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with a pyproject.toml that has a [tool.nnlint] table."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n\n[tool.nnlint]\n')
    return tmp_path


@pytest_asyncio.fixture
async def editor(project: Path) -> AsyncIterator[Editor]:
    client = await start_editor(project)
    yield client
    await stop_editor(client)


# -- applying edits as an editor does --------------------------------------------------------


def _offset(text: str, position: types.Position) -> int:
    """A UTF-16 position (LSP's default) as an index into ``text``."""
    lines = text.split("\n")
    offset = sum(len(line) + 1 for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    column = 0
    while column < len(line) and units < position.character:
        units += 2 if ord(line[column]) > 0xFFFF else 1
        column += 1
    return min(offset + column, len(text))


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply TextEdits (non-overlapping, as LSP requires) back to front."""
    spans = sorted(((_offset(text, e.range.start), _offset(text, e.range.end), e.new_text) for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text
