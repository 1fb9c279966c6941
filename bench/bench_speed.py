"""How close nnlint runs to the LibCST parse floor, and how it compares with TorchFix.

For each source tree given, on a private copy of it (so that one file can be edited):

    floor           LibCST ``parse_module`` of every file, one process (what parsing alone costs)
    cold -j1/-j2    ``nnlint --no-cache --select ALL`` with one and two worker processes
    warm            the same with the cache filled and nothing changed
    warm, 1 edited  the same after appending a comment to one file (the median-sized one)
    torchfix -jN    TorchFix 0.7.0 ``--select ALL`` on the same files with the same jobs
    one file        ``nnlint`` on one small file, cold and warm, wall time including startup,
                    next to starting Python, importing LibCST and parsing that file (medians of
                    ``--one-file-repeat`` interleaved rounds)
    paired          each file parsed by one long-lived process and linted by another (nnlint),
                    back to back in alternating order, CPU times summed: the -j1 ratio with
                    machine noise cancelled, since a slow spell slows both sides of the pairs it
                    covers

Every number is one measured run (with ``--repeat N``, the fastest of N interleaved runs for the
floor and the cold rows); ratios compare runs of the same invocation of this script. Wall
and CPU times and peak RSS (the largest single process, workers included) are measured from a
fresh wrapper process per run (``getrusage(RUSAGE_CHILDREN)``). The outputs of the nnlint runs
are compared with each other: cold -j1, cold -j2, filling the cache and warm must agree.

Usage::

    python bench/bench_speed.py PATH [PATH ...] [--torchfix /tmp/torchfix-venv/bin/torchfix]

Getting the trees (network only here)::

    pip download --no-deps timm transformers -d /tmp/wheels
    cd /tmp/wheels && unzip -q -d timm timm-*.whl && unzip -q -d transformers transformers-*.whl
    python bench/bench_speed.py /tmp/wheels/timm /tmp/wheels/transformers

TorchFix (optional; it pins an older LibCST, so it gets its own environment)::

    python -m venv /tmp/torchfix-venv && /tmp/torchfix-venv/bin/pip install torchfix==0.7.0

Without it the TorchFix rows are left out. ``--skip-torchfix NAME`` leaves it out for one tree
(TorchFix needs about a third of a second per 100 lines on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

# Runs a command and reports its wall time and the CPU time and peak RSS of its process tree.
MEASURE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "wb"), stderr=subprocess.PIPE)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss,
                  "status": proc.returncode, "stderr": proc.stderr.decode(errors="replace")[-2000:]}))
"""

# The parse floor: read, decode and parse every file listed in argv[1], nothing else.
FLOOR = r"""
import sys
import libcst
paths = open(sys.argv[1]).read().splitlines()
failed = 0
for path in paths:
    try:
        libcst.parse_module(open(path, "rb").read().decode("utf-8"))
    except Exception:
        failed += 1
print(f"{len(paths)} files, {failed} not parsed")
"""


# The -j1 ratio measured so that machine noise cancels: in one process, each file is parsed alone
# and linted by nnlint (--select ALL) back to back, the order alternating; CPU times are summed.
# A slow minute slows both sides of the pairs it covers; it cannot land on one side only.
# One side of the paired measurement: a long-lived process that takes file paths on stdin, one per
# line, and answers each with the CPU seconds it spent on that file. The parse side and the nnlint
# side are separate processes, so each has a heap like a real run (sharing one process made the
# parse side pay for nnlint's long-lived objects in garbage collection: a ratio biased low).
PAIRED_SIDE = r"""
import sys, time
side, listing = sys.argv[1], sys.argv[2]
paths = open(listing).read().splitlines()
if side == "parse":
    import libcst
    work = lambda path: libcst.parse_module(open(path, "rb").read().decode("utf-8"))
else:
    from pathlib import Path
    from nnlint.project import roots_for
    from nnlint.registry import Registry
    from nnlint.runner import FileLinter
    from nnlint.settings import Settings
    from nnlint.cli import collect_garbage_rarely
    collect_garbage_rarely()  # as the command line does
    work = FileLinter(Settings(select=("ALL",)), Registry.with_plugins(), roots_for([Path(p) for p in paths])).lint_path
work(paths[0])  # imports and one-time setup are not per-file work
print("ready", flush=True)
for line in sys.stdin:
    start = time.process_time()
    work(line.rstrip("\n"))
    print(time.process_time() - start, flush=True)
"""


def paired(listing: Path) -> dict[str, float]:
    """Each file parsed by one process and linted by another, back to back, alternating which goes
    first; CPU seconds summed per side. A slow spell of the machine slows both sides of the pairs
    it covers, so their ratio is steady where whole runs swing by 10-30%."""
    sides = {
        side: subprocess.Popen([sys.executable, "-c", PAIRED_SIDE, side, str(listing)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for side in ("parse", "lint")
    }
    for process in sides.values():
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    totals = dict.fromkeys(sides, 0.0)
    for index, path in enumerate(listing.read_text().splitlines()):
        for side in ("parse", "lint") if index % 2 == 0 else ("lint", "parse"):
            process = sides[side]
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(path + "\n")
            process.stdin.flush()
            totals[side] += float(process.stdout.readline())
    for process in sides.values():
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    return totals


@dataclass
class Run:
    name: str
    wall: float
    cpu: float
    rss_mb: float
    status: int
    output: Path


def measure(name: str, command: list[str], output: Path, cwd: Path, env: dict[str, str] | None = None) -> Run:
    raw = subprocess.run(
        [sys.executable, "-c", MEASURE, str(output), *command], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    data = json.loads(raw.stdout)
    run = Run(name, data["wall"], data["cpu"], data["rss_kb"] / 1024, data["status"], output)
    print(f"  {name:<28} {run.wall:8.2f} s wall {run.cpu:8.2f} s cpu {run.rss_mb:7.0f} MB  (exit {run.status})", flush=True)
    if run.status not in (0, 1):
        print(f"    stderr: {data['stderr'].strip()[-800:]}", flush=True)
    return run


def nnlint_files(tree: Path) -> list[Path]:
    """The files nnlint lints in ``tree`` (its discovery: excludes, .gitignore)."""
    out = subprocess.run(
        [sys.executable, "-m", "nnlint", "--isolated", "--show-files", str(tree)], capture_output=True, text=True, check=True
    ).stdout
    return [Path(line) for line in out.splitlines() if line.endswith(".py")]


def same_findings(*runs: Run) -> bool:
    texts = {run.output.read_text() for run in runs}
    return len(texts) == 1


def bench_tree(source: Path, work: Path, args: argparse.Namespace) -> list[tuple[str, ...]]:
    name = source.name
    tree = work / name
    print(f"{name}: copying {source} to {tree}", flush=True)
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    files = nnlint_files(tree)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    listing = work / f"{name}.files"
    listing.write_text("".join(f"{p}\n" for p in files))
    print(f"{name}: {len(files)} files, {lines} lines", flush=True)
    cache = work / f"{name}.cache"
    nnlint = [sys.executable, "-m", "nnlint", "--isolated", "--select", "ALL", "--output-format", "json"]
    paths = [str(p) for p in files]
    out = lambda label: work / f"{name}.{label}.out"  # noqa: E731
    runs: dict[str, Run] = {}

    cold = {
        "floor": ("floor (LibCST parse)", [sys.executable, "-c", FLOOR, str(listing)]),
        "cold1": ("nnlint cold -j1", [*nnlint, "--no-cache", "-j", "1", *paths]),
        "cold2": ("nnlint cold -j2", [*nnlint, "--no-cache", "-j", "2", *paths]),
    }
    if args.one_rule:
        one_rule = [*nnlint[:-4], "--select", args.one_rule, "--output-format", "json", "--no-cache", "-j", "1"]
        cold["one_rule"] = (f"nnlint cold -j1 {args.one_rule} only", [*one_rule, *paths])
    # Interleaved repeats, fastest kept: on a shared machine the minimum is the steadiest figure.
    for _ in range(args.repeat):
        for key, (label, command) in cold.items():
            run = measure(label, command, out(key), work)
            if key not in runs or run.wall < runs[key].wall:
                runs[key] = run
    fill = measure("nnlint filling the cache -j2", [*nnlint, "--cache-dir", str(cache), "-j", "2", *paths], out("fill"), work)
    runs["warm"] = measure("nnlint warm -j2", [*nnlint, "--cache-dir", str(cache), "-j", "2", *paths], out("warm"), work)
    edited = sorted(files, key=lambda p: p.stat().st_size)[len(files) // 2]
    with open(edited, "a") as handle:
        handle.write("\n# edited by bench_speed.py\n")
    runs["edited"] = measure("nnlint warm, 1 file edited", [*nnlint, "--cache-dir", str(cache), "-j", "2", *paths], out("edited"), work)
    agree = same_findings(runs["cold1"], runs["cold2"], fill, runs["warm"])

    torchfix = args.torchfix if args.torchfix and name not in args.skip_torchfix else None
    for jobs in args.torchfix_jobs if torchfix else ():
        runs[f"torchfix{jobs}"] = measure(
            f"torchfix -j{jobs}", [torchfix, "--select", "ALL", "-j", str(jobs), *paths], out(f"torchfix{jobs}"), work
        )

    pairs = paired(listing)
    print(f"  paired per file, two processes: parse {pairs['parse']:.2f} s cpu, nnlint {pairs['lint']:.2f} s cpu", flush=True)

    small = min((p for p in files if p.stat().st_size > 1500), key=lambda p: p.stat().st_size)
    one_runs = measure_one_file(small, nnlint, work, name, args.one_file_repeat)
    runs.update({key: median_run(samples) for key, samples in one_runs.items()})
    # Per round, nnlint cold minus the floor run just before it: what nnlint adds to LibCST.
    added = statistics.median(c.wall - f.wall for c, f in zip(one_runs["one_cold"], one_runs["one_floor"]))

    floor, cold1 = runs["floor"], runs["cold1"]
    rows = []

    def row(key: str, label: str, versus: Run | None, note: str = "") -> None:
        run = runs.get(key)
        if run is None:
            return
        ratio = f"{run.wall / versus.wall:.2f}x" if versus else ""
        cpu_ratio = f"{run.cpu / versus.cpu:.2f}x" if versus else ""
        rows.append((name, label, f"{run.wall:.2f}", f"{run.cpu:.2f}", ratio, cpu_ratio, f"{run.rss_mb:.0f}", note))

    row("floor", "floor: LibCST parse only, 1 process", None, f"{len(files)} files, {lines} lines")
    row("cold1", "nnlint cold -j1", floor, "target <= 1.25x floor")
    row("cold2", "nnlint cold -j2", floor, "target <= 0.75x floor")
    row("one_rule", f"nnlint cold -j1 --select {args.one_rule}", floor, "one cheap rule: startup, parse, facts, walk")
    rows.append(
        (name, "paired per file, two processes: parse, nnlint", f"{pairs['parse']:.2f} / {pairs['lint']:.2f}", "",
         "", f"{pairs['lint'] / pairs['parse']:.2f}x", "", "CPU s of parse-only / of nnlint -j1; the noise-proof -j1 ratio")
    )
    row("warm", "nnlint warm (nothing changed)", cold1, "vs cold -j1; target <= 0.03x")
    row("edited", "nnlint warm, 1 file edited", cold1, f"vs cold -j1; target <= 0.05x; edited {edited.relative_to(tree)}")
    for jobs in args.torchfix_jobs:
        key = f"torchfix{jobs}"
        if key in runs and f"cold{jobs}" in runs:
            speedup = runs[key].wall / runs[f"cold{jobs}"].wall
            row(key, f"TorchFix 0.7.0 --select ALL -j{jobs}", floor, f"nnlint cold -j{jobs} is {speedup:.1f}x faster; target >= 10x")
    rounds = f"median of {args.one_file_repeat} interleaved runs"
    row("one_floor", "one small file: python, import libcst, parse", None, f"{small.relative_to(tree)}; {rounds}")
    row("one_cold", "nnlint one small file, cold", runs["one_floor"], f"target <= 0.3 s; {rounds}; adds {added:.3f} s to the floor (median per round)")
    row("one_warm", "nnlint one small file, warm", None, rounds)
    print(f"{name}: nnlint outputs of cold -j1, cold -j2, cache fill and warm agree: {agree}", flush=True)
    if not agree:
        rows.append((name, "WARNING: nnlint outputs differ between runs", "", "", "", "", "", ""))
    return rows


def measure_one_file(small: Path, nnlint: list[str], work: Path, name: str, repeat: int) -> dict[str, list[Run]]:
    """The one-file rows, ``repeat`` interleaved rounds: a single start-up takes a third of a
    second, so one slow moment of the machine would decide a single sample."""
    parse_one = "import sys, libcst; libcst.parse_module(open(sys.argv[1], 'rb').read().decode())"
    samples: dict[str, list[Run]] = {"one_floor": [], "one_cold": [], "one_warm": []}
    for round_ in range(repeat):
        small_cache = work / f"{name}.small-cache-{round_}"  # empty: the first run is cold
        one = [*nnlint[:-2], "--cache-dir", str(small_cache), str(small)]
        out = work / f"{name}.one.out"
        samples["one_floor"].append(measure("one file: import + parse", [sys.executable, "-c", parse_one, str(small)], out, work))
        samples["one_cold"].append(measure("nnlint one file, cold", one, out, work))
        samples["one_warm"].append(measure("nnlint one file, warm", one, out, work))
    return samples


def median_run(samples: list[Run]) -> Run:
    return sorted(samples, key=lambda run: run.wall)[len(samples) // 2]


def compile_bytecode() -> None:
    """Write nnlint's .pyc files, as ``pip install`` does: in an editable checkout with
    PYTHONDONTWRITEBYTECODE set, every run would otherwise compile nnlint's sources again
    (about 0.1 s of the one-file time)."""
    import compileall

    import nnlint

    compileall.compile_dir(Path(nnlint.__file__).parent, quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="source trees, e.g. an unpacked timm wheel")
    default_torchfix = "/tmp/torchfix-venv/bin/torchfix"
    parser.add_argument("--torchfix", default=default_torchfix if os.path.exists(default_torchfix) else None)
    parser.add_argument("--torchfix-jobs", type=int, nargs="+", default=[2])
    parser.add_argument("--skip-torchfix", action="append", default=[], metavar="NAME", help="tree name (directory name)")
    parser.add_argument("--keep", action="store_true", help="keep the working copies")
    parser.add_argument("--repeat", type=int, default=1, help="run the cold rows this many times, interleaved; keep the fastest")
    parser.add_argument("--one-file-repeat", type=int, default=9, help="rounds of the one-file rows (median reported)")
    parser.add_argument(
        "--one-rule", default="NN503", help="a cheap rule for a run that shows what everything but the rules costs ('' to skip)"
    )
    args = parser.parse_args()

    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="nnlint-bench-"))
    rows = []
    try:
        for tree in args.trees:
            rows += bench_tree(tree.resolve(), work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print()
    print(f"{date.today()} - {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}, {platform.platform()}")
    print()
    print("| tree | run | wall s | CPU s | wall ratio | CPU ratio | peak RSS MB | notes |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
