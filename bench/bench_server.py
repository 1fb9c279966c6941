"""Latency of `nnlint server` as an editor sees it: the time from a `textDocument/didChange` on a
1,000-line file to the `publishDiagnostics` for that version.

The server runs as editors run it (`python -m nnlint server`, stdio, its default debounce); this
script is the editor, speaking JSON-RPC itself (no LSP library on this side). Each measured edit
is an incremental change in the middle of the file -- alternately adding and removing a statement,
so findings and size stay put -- after a pause, as a person types and stops. With ``--typing``,
it also measures bursts: edits ``--typing-gap-ms`` apart, latency counted from the last one.

The same run measures the floor, paired with each edit: nnlint's own lint of the same text in this
process (no protocol, no debounce) and LibCST's parse of it, so the figure reads as a ratio too (the
machine is shared: absolute times move with its load, which is printed before and after).

    python bench/bench_server.py                      # generated 1,000-line model file
    python bench/bench_server.py --file path/to/model.py --edits 50
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURES = {"clean": REPO / "fixtures" / "seed_notes_clean.py", "buggy": REPO / "fixtures" / "seed_notes_buggy.py"}


def model_file(lines: int = 1000, kind: str = "clean") -> str:
    """``lines`` lines of model code: a seed fixture's classes and functions (``clean``, or
    ``buggy``: five findings a copy), copied with distinct names until the file is long enough."""
    header, body = FIXTURES[kind].read_text().split("import torch.nn.functional as F\n", 1)
    out = header + "import torch.nn.functional as F\n"
    copy = 0
    while out.count("\n") < lines:
        renamed = body
        for name in ("CNN", "Model", "Classifier", "train", "predict", "freeze_backbone"):
            renamed = renamed.replace(f"class {name}", f"class {name}{copy}").replace(f"def {name}(", f"def {name}{copy}(")
            renamed = renamed.replace(f"{name}(", f"{name}{copy}(").replace(f"({name},", f"({name}{copy},")
        out += "\n" + renamed
        copy += 1
    kept = out.split("\n")[:lines]
    while kept and kept[-1].startswith((" ", "\t")):  # never cut a block in half
        kept[-1] = "# (cut)"
    return "\n".join(kept) + "\n"


class Editor:
    """The client side of JSON-RPC over the server's pipes."""

    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nnlint", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd
        )
        self.ids = 0

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise EOFError("the server exited")
            if not line.strip():
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return json.loads(self.process.stdout.read(length))

    def request(self, method: str, params: Any) -> Any:
        self.ids += 1
        self.send({"id": self.ids, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == self.ids and "method" not in message:
                return message.get("result")
            self._answer(message)

    def _answer(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:  # a request from the server (registrations)
            self.send({"id": message["id"], "result": None})

    def diagnostics(self, uri: str, version: int) -> list[dict[str, Any]]:
        while True:
            message = self.receive()
            params = message.get("params") or {}
            if message.get("method") == "textDocument/publishDiagnostics" and params.get("uri") == uri and params.get("version") == version:
                return params["diagnostics"]  # type: ignore[no-any-return]
            self._answer(message)

    def close(self) -> int:
        self.request("shutdown", None)
        self.send({"method": "exit"})
        return self.process.wait(30)


class Floor:
    """nnlint's own lint of a text in this process (the server's entry point, no protocol, no
    debounce) and LibCST's parse of it: what the server's latency is compared with."""

    def __init__(self, path: Path) -> None:
        from nnlint.server.core import LintCore

        self.core = LintCore()
        self.path = str(path)
        self.lint: list[float] = []
        self.parse: list[float] = []

    def measure(self, text: str) -> None:
        import libcst

        if not self.lint:
            self.core.lint_python(self.path, text)  # imports and first-use caches
        start = time.perf_counter()
        self.core.set_buffer(self.path, text)  # as the server does before each lint
        self.core.lint_python(self.path, text)
        self.lint.append(time.perf_counter() - start)
        start = time.perf_counter()
        libcst.parse_module(text)
        self.parse.append(time.perf_counter() - start)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux /proc; None elsewhere): the time
    the server itself spent, which the other processes on a loaded machine do not inflate much."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def apply_change(text: str, params: dict[str, Any]) -> str:
    """Apply one incremental change (ASCII text: columns are characters) to ``text``."""
    change = params["contentChanges"][0]
    lines = text.split("\n")
    start, end = change["range"]["start"], change["range"]["end"]
    offset = lambda position: sum(len(line) + 1 for line in lines[: position["line"]]) + position["character"]  # noqa: E731
    return text[: offset(start)] + change["text"] + text[offset(end) :]


def edit_params(uri: str, version: int, line: int, text_line: str, add: bool) -> dict[str, Any]:
    """Add (or remove) a statement after line ``line``: ``_touched = 1`` at its indentation."""
    indent = text_line[: len(text_line) - len(text_line.lstrip())]
    inserted = f"{indent}_touched = {version}\n"
    if add:
        change = {"range": {"start": {"line": line + 1, "character": 0}, "end": {"line": line + 1, "character": 0}}, "text": inserted}
    else:
        change = {"range": {"start": {"line": line + 1, "character": 0}, "end": {"line": line + 2, "character": 0}}, "text": ""}
    return {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}


def middle_statement_line(text: str) -> int:
    """A line in the middle of the file after which a statement at the same indentation is valid:
    a simple statement line inside a function body."""
    lines = text.split("\n")
    middle = len(lines) // 2
    for index in range(middle, len(lines) - 1):
        line, following = lines[index], lines[index + 1]
        stripped = line.strip()
        if (
            line.startswith("        ")
            and stripped
            and not stripped.endswith((":", ",", "(", "[", "{", "\\"))
            and not stripped.startswith(("#", "return", "@", '"""'))
            and len(following) - len(following.lstrip()) <= len(line) - len(line.lstrip())
            and following.strip() != ")"
        ):
            return index
    raise SystemExit("no line to edit found in the middle of the file")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, help="lint this file instead of the generated 1,000-line one")
    parser.add_argument("--lines", type=int, default=1000, help="length of the generated file (default 1000)")
    parser.add_argument("--kind", choices=sorted(FIXTURES), default="clean", help="generate from the clean (default) or the buggy seed fixture")
    parser.add_argument("--edits", type=int, default=40, help="measured edits (default 40)")
    parser.add_argument("--pause-ms", type=float, default=300, help="pause after each edit's diagnostics (default 300)")
    parser.add_argument("--typing", type=int, default=0, metavar="N", help="also measure N bursts of typing")
    parser.add_argument("--typing-gap-ms", type=float, default=60, help="time between edits in a burst (default 60)")
    parser.add_argument("--debounce-ms", type=float, help="the server's debounce (default: the server's own)")
    args = parser.parse_args()

    text = args.file.read_text() if args.file else model_file(args.lines, args.kind)
    line_count = text.count("\n")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "pyproject.toml").write_text("[tool.nnlint]\n")
        path = root / (args.file.name if args.file else "model.py")
        path.write_text(text)
        uri = path.as_uri()
        editor = Editor(root)
        started = time.perf_counter()
        options = {} if args.debounce_ms is None else {"debounceMs": args.debounce_ms}
        editor.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}, "initializationOptions": options})
        editor.send({"method": "initialized", "params": {}})
        editor.send({"method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}})
        first = editor.diagnostics(uri, 1)
        print(f"file: {path.name}, {line_count} lines, {len(text.encode()):,} bytes, {len(first)} findings")
        print(f"start to first diagnostics (server start, imports, first lint): {(time.perf_counter() - started) * 1000:.0f} ms")

        line = middle_statement_line(text)
        floor = Floor(path)
        version, added = 1, False
        latencies: list[float] = []
        server_cpu: list[float] = []  # the server's CPU time from each edit to its diagnostics
        current = text
        for index in range(args.edits + 3):  # the first 3 are warm-up
            version += 1
            added = not added
            params = edit_params(uri, version, line, text.split("\n")[line], added)
            cpu_before = cpu_seconds(editor.process.pid)
            start = time.perf_counter()
            editor.send({"method": "textDocument/didChange", "params": params})
            diagnostics = editor.diagnostics(uri, version)
            elapsed = time.perf_counter() - start
            cpu_after = cpu_seconds(editor.process.pid)
            current = apply_change(current, params)
            if index >= 3:
                latencies.append(elapsed)
                if cpu_before is not None and cpu_after is not None:
                    server_cpu.append(cpu_after - cpu_before)
                floor.measure(current)  # paired: the same text, the same minute of machine load
            if len(diagnostics) != len(first):
                raise SystemExit(f"edit {version}: {len(diagnostics)} findings, expected {len(first)} (the edit broke the file?)")
            time.sleep(args.pause_ms / 1000)

        bursts: list[float] = []
        for _ in range(args.typing):
            for _keystroke in range(6):
                version += 1
                added = not added
                editor.send({"method": "textDocument/didChange", "params": edit_params(uri, version, line, text.split("\n")[line], added)})
                start = time.perf_counter()
                time.sleep(args.typing_gap_ms / 1000)
            editor.diagnostics(uri, version)
            bursts.append(time.perf_counter() - start)
            time.sleep(args.pause_ms / 1000)
        status = editor.close()

    lint, parse = statistics.median(floor.lint), statistics.median(floor.parse)
    median = statistics.median(latencies)
    print(f"edit -> fresh diagnostics, {len(latencies)} edits: median {median * 1000:.0f} ms, "
          f"p90 {percentile(latencies, 0.9) * 1000:.0f} ms, min {min(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    if server_cpu:
        print(f"server CPU time per edit (user+system, {os.sysconf('SC_CLK_TCK')} Hz ticks): median {statistics.median(server_cpu) * 1000:.0f} ms, "
              f"p90 {percentile(server_cpu, 0.9) * 1000:.0f} ms")
    if bursts:
        print(f"typing bursts (6 edits {args.typing_gap_ms:.0f} ms apart), last edit -> its diagnostics, {len(bursts)} bursts: "
              f"median {statistics.median(bursts) * 1000:.0f} ms, max {max(bursts) * 1000:.0f} ms")
    print(f"floor, paired with each edit in this process: nnlint lint {lint * 1000:.0f} ms, LibCST parse {parse * 1000:.0f} ms (medians)")
    print(f"server latency / in-process lint: {median / lint:.2f}x; target 150 ms: {'met' if median <= 0.150 else 'NOT met'}")
    print(f"server exit status {status}; load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
