"""The server's life: stale work cancelled, a crash in one document's lint logged (the server lives
on), shutdown then exit with status 0, and no torch import."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from lsprotocol import types

from tests.conftest import REPO, run_cli
from tests.server.conftest import HERE, TIMEOUT_S, start_editor, stop_editor
from tests.server.crashing_server import MARKER
from tests.server.raw_client import RawClient

BUGGY = (REPO / "fixtures" / "seed_notes_buggy.py").read_text()


def big_model_file(copies: int = 14) -> str:
    """~1,000 lines: the seed fixture's code repeated, each copy's names made distinct."""
    header, body = BUGGY.split("import torch.nn.functional as F\n", 1)
    parts = [header + "import torch.nn.functional as F\n"]
    for n in range(copies):
        parts.append(body.replace("CNN", f"CNN{n}").replace("Model", f"Model{n}").replace("Classifier", f"Classifier{n}")
                     .replace("def train(", f"def train{n}(").replace("def predict(", f"def predict{n}(")
                     .replace("def freeze_backbone(", f"def freeze_backbone{n}("))
    return "\n".join(parts)


@pytest.mark.asyncio
async def test_stale_versions_are_never_published(editor, project):
    text = big_model_file()
    assert len(text.splitlines()) >= 1000
    warm = project / "warm.py"
    warm.write_text("import torch\n")
    await editor.wait_for_diagnostics(editor.open(warm), version=1)  # the lint thread is idle now
    path = project / "big.py"
    path.write_text(text)
    uri = editor.open(path, text, version=1)  # linted at once (no debounce on open) ...
    await asyncio.sleep(0.03)  # ... and still running (~100 ms) when the edits arrive
    last = 8
    for version in range(2, last + 1):  # typed faster than a lint: each version supersedes the last
        text = text.replace("super(CNN0, self)", "super(CNN0,  self)") if version % 2 else text.replace("super(CNN0,  self)", "super(CNN0, self)")
        editor.replace(uri, text + f"\n# edit {version}\n", version=version)
    await editor.wait_for_diagnostics(uri, version=last)
    await asyncio.sleep(1.0)  # a stale lint finishing late would publish now
    assert [p.version for p in editor.published if p.uri == uri] == [last]


@pytest.mark.asyncio
async def test_a_crash_in_one_document_is_logged_and_the_server_lives_on(project):
    editor = await start_editor(project, command=[sys.executable, str(HERE / "crashing_server.py")])
    try:
        crashing = project / "crashing.py"
        crashing.write_text(f"# {MARKER}\nimport torch\n")
        good = project / "model.py"
        good.write_text(BUGGY)
        crash_uri = editor.open(crashing)
        await editor.wait_for(
            lambda: [m for m in editor.log_messages if "simulated bug in a rule" in m.message], "the crash's log message"
        )
        message = next(m for m in editor.log_messages if "simulated bug in a rule" in m.message)
        assert message.type == types.MessageType.Error and "crashing.py" in message.message
        diagnostics = await editor.wait_for_diagnostics(editor.open(good), version=1)
        assert "NN101" in {d.code for d in diagnostics}  # still serving
        assert not any(p.uri == crash_uri for p in editor.published)  # a log message, no diagnostic
    finally:
        await stop_editor(editor)
    assert editor._server is not None and editor._server.returncode == 0


def test_an_independent_client_sees_the_same_diagnostics_and_exit_status_0(project):
    path = project / "model.py"
    path.write_text(BUGGY)
    client = RawClient(project)
    try:
        result = client.request("initialize", {"processId": None, "rootUri": project.as_uri(), "capabilities": {}})
        assert result["serverInfo"]["name"] == "nnlint"
        client.notify("initialized", {})
        uri = path.as_uri()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": BUGGY}})
        published = client.wait_for_notification("textDocument/publishDiagnostics", uri)["params"]
        got = sorted((d["code"], d["range"]["start"]["line"] + 1, d["range"]["start"]["character"] + 1) for d in published["diagnostics"])
        cli = run_cli("--output-format", "json", "--no-cache", str(path), cwd=project).json()
        assert got == sorted((f["code"], f["line"], f["column"]) for f in cli if f["type"] == "finding")
        assert client.request("shutdown") is None
        client.notify("exit")
        assert client.wait(TIMEOUT_S) == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()


def test_exit_without_shutdown_is_status_1(project):
    client = RawClient(project)
    try:
        client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        client.notify("exit")
        assert client.wait(TIMEOUT_S) == 1  # as the LSP specification says
    finally:
        if client.process.poll() is None:
            client.process.kill()


def test_the_server_never_imports_torch(project):
    script = textwrap.dedent(
        f"""
        import sys
        from nnlint.server.server import build_server
        from nnlint.server.core import LintCore, NotebookCell
        build_server()
        core = LintCore()
        outcome = core.lint_python({str(project / "model.py")!r}, {BUGGY!r})
        assert outcome.problems, "the lint ran"
        core.lint_notebook({str(project / "nb.ipynb")!r}, [NotebookCell("code", "import torch\\nx = torch.zeros(1)\\nx.cuda()\\n")])
        core.fix_python({str(project / "model.py")!r}, {BUGGY!r})
        print(sorted(name for name in sys.modules if name == "torch" or name.startswith("torch.")))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=project, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_pygls_the_subcommand_says_what_to_install(project):
    # A meta-path finder that hides pygls, as on an install without the `server` extra.
    script = textwrap.dedent(
        """
        import sys
        class NoPygls:
            def find_spec(self, name, path=None, target=None):
                if name == "pygls" or name.startswith("pygls."):
                    raise ImportError("No module named 'pygls'")
                return None
        sys.meta_path.insert(0, NoPygls())
        from nnlint.cli import main
        sys.exit(main(["server"]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=project, timeout=TIMEOUT_S)
    assert result.returncode == 2
    assert "pip install 'nnlint[server]'" in result.stderr
