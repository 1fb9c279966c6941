"""What the whole rule catalogue costs next to the five seed rules, on the same files.

Runs ``nnlint --no-cache -j 1`` with ``--select NN101,NN102,NN103,NN201,NN301`` (the seed rules)
and with ``--select ALL``, interleaved ``--repeat`` times, and prints the fastest wall and CPU time
of each and their ratio (issue 3 asks for at most 1.3x). Both runs go through the same pre-filter,
so a file that no seed rule could fire on is not even parsed in the seed run: the ratio is what a
user pays for turning everything on.

Usage::

    python bench/bench_catalogue.py PATH [--every N] [--repeat 3]

``--every N`` keeps every N-th file (sorted by path) to make a sample; 1 keeps all.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SEED = "NN101,NN102,NN103,NN201,NN301"

# Wall and CPU time of a child process (its own getrusage, so nothing of this script counts).
MEASURE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
                  "status": proc.returncode, "stderr": proc.stderr.decode(errors="replace")[-500:]}))
"""


def measure(command: list[str]) -> dict[str, float]:
    raw = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True)
    data = json.loads(raw.stdout)
    if data["status"] not in (0, 1):
        raise SystemExit(f"nnlint failed (exit {data['status']}): {data['stderr']}")
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    listed = subprocess.run(
        [sys.executable, "-m", "nnlint", "--isolated", "--show-files", str(args.tree)], capture_output=True, text=True, check=True
    ).stdout.split()
    files = sorted(p for p in listed if p.endswith(".py"))[:: args.every]
    lines = sum(Path(p).read_bytes().count(b"\n") for p in files)
    base = [sys.executable, "-m", "nnlint", "--isolated", "--no-cache", "-j", "1", "--output-format", "json"]
    runs = {"seed": [*base, "--select", SEED, *files], "all": [*base, "--select", "ALL", *files]}
    best: dict[str, dict[str, float]] = {}
    for round_ in range(args.repeat):
        for name, command in runs.items():
            data = measure(command)
            print(f"  round {round_ + 1} {name:<4} {data['wall']:7.2f} s wall {data['cpu']:7.2f} s cpu", flush=True)
            if name not in best or data["wall"] < best[name]["wall"]:
                best[name] = data
    seed, everything = best["seed"], best["all"]
    print(f"\n{args.tree.name}: {len(files)} files, {lines} lines; fastest of {args.repeat} interleaved runs, -j 1, no cache")
    print("| rules | wall s | CPU s |")
    print("|---|---:|---:|")
    print(f"| five seed rules ({SEED}) | {seed['wall']:.2f} | {seed['cpu']:.2f} |")
    print(f"| whole catalogue (--select ALL) | {everything['wall']:.2f} | {everything['cpu']:.2f} |")
    print(f"| ratio (target <= 1.3x) | {everything['wall'] / seed['wall']:.2f}x | {everything['cpu'] / seed['cpu']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
