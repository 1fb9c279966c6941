"""The language server: LSP messages in, lint work scheduled, diagnostics and actions out.

A *unit* is what is linted as one: a Python text document (keyed by its URI) or a notebook
(keyed by the notebook's URI; its diagnostics go to its cells' URIs).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from nnlint import __version__
from nnlint.server.actions import FIX_ALL_KIND, QUICK_FIX_KIND, fix_all_action, quick_fixes, wanted
from nnlint.server.core import LintCore, LintCrash, LintOutcome, real_path
from nnlint.server.documents import Snapshot, is_python_document, notebook_snapshot, path_of, python_snapshot
from nnlint.server.protocol import DocsLink, contains, whole_document
from nnlint.server.publishing import Published, publish
from nnlint.server.scheduler import LintScheduler

logger = logging.getLogger(__name__)

# Edits that arrive together (a paste, a multi-cursor edit, an editor's auto-format) are linted
# once; the delay is short next to the ~100 ms lint of a 1,000-line file it protects.
DEFAULT_DEBOUNCE_S = 0.025
CONFIG_FILE = "pyproject.toml"
WATCHERS = ("**/pyproject.toml", "**/*.py", "**/*.pyi")

# Python cells of every kind of notebook ("*"). Written with a notebook filter, not cells alone:
# lsprotocol (2025.0.0) cannot read a cells-only selector back, so pygls-based clients would fail.
NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithNotebook(notebook="*", cells=[types.NotebookCellLanguage(language="python")])
    ],
    save=True,
)


@dataclass
class Options:
    """``initializationOptions`` a client may send (all optional): ``debounceMs`` and
    ``ruleDocsUrl``, a URL template for each rule's page (see protocol.DocsLink)."""

    debounce: float = DEFAULT_DEBOUNCE_S
    docs: DocsLink | None = None

    @classmethod
    def from_client(cls, raw: Any) -> Options:
        options = cls()
        if isinstance(raw, dict):
            debounce = raw.get("debounceMs")
            if isinstance(debounce, (int, float)) and not isinstance(debounce, bool) and debounce >= 0:
                options.debounce = debounce / 1000
            docs = raw.get("ruleDocsUrl")
            if isinstance(docs, str) and docs:
                options.docs = DocsLink(docs)
        return options


class NnlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "nnlint",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=NOTEBOOK_SYNC,
        )
        self.core = LintCore()
        self.scheduler = LintScheduler()
        self.options = Options()
        self.units: dict[str, bool] = {}  # open unit URI -> is a notebook
        self.published: dict[str, Published] = {}
        self.dependencies: dict[str, frozenset[str]] = {}  # unit URI -> real paths it consulted
        self.config_errors_shown: set[str] = set()
        self._pending_changed: dict[str, bool] = {}  # unit -> its pending lint follows a content change
        self.shutdown_requested = False  # `exit` after `shutdown` ends with status 0, else 1 (LSP)

    # -- helpers ------------------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        return self.workspace.position_encoding or types.PositionEncodingKind.Utf16

    def log(self, kind: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(kind, message))

    def snapshot(self, unit: str) -> Snapshot | None:
        if unit not in self.units:
            return None
        if self.units[unit]:
            return notebook_snapshot(self.workspace, unit)
        return python_snapshot(self.workspace, unit)

    def unit_of(self, document_uri: str) -> str:
        """The unit a document belongs to: itself, or the notebook of a cell."""
        notebook = self.workspace.get_notebook_document(cell_uri=document_uri)
        return notebook.uri if notebook is not None else document_uri

    def is_current(self, published: Published, document_uri: str) -> bool:
        """Whether the document still holds the text the published result was computed on."""
        document = self.workspace.text_documents.get(document_uri)
        return document is not None and document.source == published.snapshot.text_of(document_uri)

    def warm_up(self) -> None:
        """Import LibCST, the engine and the rules in the background, so the first lint is not
        the slow one."""

        def done(task: asyncio.Future[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                self.log(types.MessageType.Warning, f"nnlint: warm-up failed: {task.exception()}")

        asyncio.ensure_future(self.scheduler.run(self.core.warm_up)).add_done_callback(done)

    # -- linting ------------------------------------------------------------------------------

    def request_lint(self, unit: str, delay: float = 0.0, *, changed: bool = False) -> None:
        """Lint ``unit`` after ``delay`` s, replacing its pending lint. ``changed``: its content
        changed, so the open files that depend on it re-lint afterwards."""
        if self.scheduler.is_pending(unit):
            changed = changed or self._pending_changed.get(unit, False)
        self._pending_changed[unit] = changed
        self.scheduler.schedule(unit, delay, lambda: self._lint(unit))

    async def _lint(self, unit: str) -> None:
        changed = self._pending_changed.pop(unit, False)
        snapshot = self.snapshot(unit)
        if snapshot is None:
            return
        try:
            outcome, config_error = await self.scheduler.run(lambda: self._lint_on_thread(snapshot))
        except LintCrash as crash:
            self.log(types.MessageType.Error, f"nnlint crashed on {crash.path} (no diagnostics for it): {crash}\n{crash.details}")
            return
        except Exception as exc:  # the server's own bug: never take the server down for it
            logger.exception("linting %s failed", unit)
            self.log(types.MessageType.Error, f"nnlint failed on {snapshot.path} (no diagnostics for it): {type(exc).__name__}: {exc}")
            return
        latest = self.snapshot(unit)
        if latest is None or latest.version != snapshot.version:
            # Closed, or a newer version arrived while this one was linted: its lint follows.
            logger.debug("dropped the lint of %s version %s (now %s)", unit, snapshot.version, latest and latest.version)
            return
        if config_error is not None and config_error not in self.config_errors_shown:
            self.config_errors_shown.add(config_error)
            self.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"nnlint: {config_error}; using the default settings"))
        self._publish(snapshot, outcome)
        for crash in outcome.crashes:
            self.log(types.MessageType.Error, f"nnlint: {crash}")
        if changed:
            self._relint_dependents_of(snapshot.path, unit)

    def _lint_on_thread(self, snapshot: Snapshot) -> tuple[LintOutcome, str | None]:
        core = self.core
        config_error = core.settings_for(snapshot.path).error
        if snapshot.cells is not None:
            return core.lint_notebook(snapshot.path, snapshot.cells), config_error
        core.set_buffer(snapshot.path, snapshot.text)
        return core.lint_python(snapshot.path, snapshot.text), config_error

    def _publish(self, snapshot: Snapshot, outcome: LintOutcome) -> None:
        published = publish(snapshot, outcome, self.encoding, self.options.docs)
        previous = self.published.get(snapshot.uri)
        self.published[snapshot.uri] = published
        self.dependencies[snapshot.uri] = outcome.dependencies
        for uri, diagnostics in published.diagnostics.items():
            version = snapshot.version if snapshot.cells is None else None
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri, [d for d, _ in diagnostics], version=version)
            )
        if previous is not None:  # cells deleted since: clear what they showed
            for uri in previous.diagnostics.keys() - published.diagnostics.keys():
                self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))

    def _relint_dependents_of(self, path: str, changed_unit: str | None = None) -> None:
        target = real_path(path)
        for unit, dependencies in list(self.dependencies.items()):
            if unit != changed_unit and unit in self.units and target in dependencies:
                self.request_lint(unit)

    def relint_all(self) -> None:
        for unit in list(self.units):
            self.request_lint(unit)

    def forget(self, unit: str) -> None:
        """A unit was closed: clear its diagnostics, and let its dependents see the disk again."""
        self.scheduler.cancel(unit)
        self._pending_changed.pop(unit, None)
        self.units.pop(unit, None)
        self.dependencies.pop(unit, None)
        published = self.published.pop(unit, None)
        for uri in published.diagnostics if published is not None else (unit,):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))

    # -- fixing -------------------------------------------------------------------------------

    async def fix_all_edit(self, unit: str) -> types.WorkspaceEdit | None:
        """All safe fixes of ``unit`` as one edit (None when there is nothing to fix)."""
        snapshot = self.snapshot(unit)
        if snapshot is None:
            return None
        if snapshot.cells is None:
            fixed = await self.scheduler.run(lambda: self.core.fix_python(snapshot.path, snapshot.text))
            if fixed is None:
                return None
            return types.WorkspaceEdit(changes={unit: [types.TextEdit(whole_document(snapshot.text, self.encoding), fixed)]})
        cells = snapshot.cells
        changed = await self.scheduler.run(lambda: self.core.fix_notebook(snapshot.path, cells))
        if not changed:
            return None
        changes = {}
        for number, source in changed.items():
            old = cells[number - 1].source
            changes[snapshot.cell_uris[number - 1]] = [types.TextEdit(whole_document(old, self.encoding), source)]
        return types.WorkspaceEdit(changes=changes)

    def client_resolves_edits(self) -> bool:
        capabilities = self.client_capabilities.text_document
        code_action = capabilities.code_action if capabilities is not None else None
        resolve = code_action.resolve_support if code_action is not None else None
        return resolve is not None and "edit" in resolve.properties

    # -- configuration ------------------------------------------------------------------------

    async def reload_configuration(self) -> None:
        await self.scheduler.run(self.core.forget_settings)
        self.config_errors_shown.clear()
        self.log(types.MessageType.Info, "nnlint: pyproject.toml changed; settings reloaded")
        self.relint_all()


def build_server() -> NnlintServer:
    server = NnlintServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: NnlintServer, params: types.InitializeParams) -> None:
        ls.options = Options.from_client(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: NnlintServer, params: types.InitializedParams) -> None:
        ls.warm_up()
        workspace = ls.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace is not None else None
        if watched is not None and watched.dynamic_registration:
            watchers = [types.FileSystemWatcher(glob_pattern=pattern) for pattern in WATCHERS]
            registration = types.Registration(
                id="nnlint-watched-files",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
            )
            try:
                await ls.client_register_capability_async(types.RegistrationParams([registration]))
            except Exception as exc:  # the client refused: settings reload on didSave only
                ls.log(types.MessageType.Warning, f"nnlint: cannot watch files ({exc}); pyproject.toml changes apply when saved in the editor")

    # -- text documents -------------------------------------------------------------------------

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NnlintServer, params: types.DidOpenTextDocumentParams) -> None:
        if not is_python_document(params.text_document):
            return
        ls.units[params.text_document.uri] = False
        ls.request_lint(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NnlintServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.units:
            ls.request_lint(uri, ls.options.debounce, changed=True)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    async def did_save(ls: NnlintServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if path_of(uri).endswith(CONFIG_FILE):
            await ls.reload_configuration()
        elif uri in ls.units:
            ls.request_lint(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: NnlintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri not in ls.units:
            return
        ls.forget(uri)
        path = path_of(uri)
        await ls.scheduler.run(lambda: ls.core.drop_buffer(path))
        ls._relint_dependents_of(path)

    # -- notebooks (LSP 3.17 notebook sync) ------------------------------------------------------

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls: NnlintServer, params: types.DidOpenNotebookDocumentParams) -> None:
        ls.units[params.notebook_document.uri] = True
        ls.request_lint(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(ls: NnlintServer, params: types.DidChangeNotebookDocumentParams) -> None:
        ls.request_lint(params.notebook_document.uri, ls.options.debounce, changed=True)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(ls: NnlintServer, params: types.DidSaveNotebookDocumentParams) -> None:
        ls.request_lint(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls: NnlintServer, params: types.DidCloseNotebookDocumentParams) -> None:
        ls.forget(params.notebook_document.uri)

    # -- files changed on disk --------------------------------------------------------------------

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def watched_files_changed(ls: NnlintServer, params: types.DidChangeWatchedFilesParams) -> None:
        paths = [path_of(change.uri) for change in params.changes]
        if any(path.endswith(CONFIG_FILE) for path in paths):
            await ls.reload_configuration()
            return
        await ls.scheduler.run(lambda: [ls.core.changed(path) for path in paths])
        for path in paths:  # a file an open document depends on (its buffer, if open, wins)
            ls._relint_dependents_of(path)

    # -- code actions and hover -------------------------------------------------------------------

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[QUICK_FIX_KIND, FIX_ALL_KIND], resolve_provider=True),
    )
    async def code_action(ls: NnlintServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        unit = ls.unit_of(uri)
        published = ls.published.get(unit)
        if published is None or not ls.is_current(published, uri):
            return None  # diagnostics for this version are on their way; so are the actions
        only = params.context.only
        actions: list[types.CodeAction] = []
        if wanted(only, QUICK_FIX_KIND):
            actions.extend(quick_fixes(published, uri, params.range))
        if wanted(only, FIX_ALL_KIND) and published.has_safe_fix():
            if ls.client_resolves_edits():
                actions.append(fix_all_action(None, data={"unit": unit}))
            else:
                edit = await ls.fix_all_edit(unit)
                if edit is not None:
                    actions.append(fix_all_action(edit))
        return actions

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: NnlintServer, action: types.CodeAction) -> types.CodeAction:
        if action.kind == FIX_ALL_KIND and isinstance(action.data, dict) and action.edit is None:
            action.edit = await ls.fix_all_edit(str(action.data.get("unit"))) or types.WorkspaceEdit(changes={})
        return action

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: NnlintServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        published = ls.published.get(ls.unit_of(uri))
        if published is None or not ls.is_current(published, uri):
            return None
        codes = []
        for diagnostic, problem in published.diagnostics.get(uri, []):
            if problem is not None and problem.code not in codes and contains(diagnostic.range, params.position):
                codes.append(problem.code)
        if not codes:
            return None
        pages = await ls.scheduler.run(lambda: [ls.core.rule_doc(code) for code in codes])
        text = "\n\n---\n\n".join(page for page in pages if page)
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text)) if text else None

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: NnlintServer, params: None) -> None:
        ls.shutdown_requested = True
        ls.scheduler.close()

    return server
