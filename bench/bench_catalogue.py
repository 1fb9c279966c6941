"""What the whole rule catalogue costs next to the five seed rules, on the same files.

Runs ``nnlint --no-cache -j 1`` with ``--select NN101,NN102,NN103,NN201,NN301`` (the seed rules)
and with ``--select ALL``, interleaved ``--repeat`` times, and prints the fastest wall and CPU time
of each and their ratio (issue 3 asks for at most 1.3x), then the same comparison paired per file
in one process, which cancels machine noise. Both runs go through the same pre-filter,
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


# The same comparison with machine noise cancelled: in one process, each file is linted with the
# seed rules and with every rule back to back (alternating which goes first), CPU times summed.
PAIRED = r"""
import json, sys, time
from pathlib import Path
from nnlint.project import roots_for
from nnlint.registry import Registry
from nnlint.runner import FileLinter
from nnlint.settings import Settings
paths = sys.argv[2:]
roots = roots_for([Path(p) for p in paths])
registry = Registry.with_plugins()
linters = {name: FileLinter(Settings(select=tuple(sys.argv[1].split(",")) if name == "seed" else ("ALL",)), registry, roots)
           for name in ("seed", "all")}
for linter in linters.values():
    linter.lint_path(paths[0])  # imports and one-time setup are not per-file work
spent = {"seed": 0.0, "all": 0.0}
for index, path in enumerate(paths):
    for name in (("seed", "all") if index % 2 == 0 else ("all", "seed")):
        start = time.process_time()
        linters[name].lint_path(path)
        spent[name] += time.process_time() - start
print(json.dumps(spent))
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
    paired = json.loads(subprocess.run([sys.executable, "-c", PAIRED, SEED, *files], capture_output=True, text=True, check=True).stdout)
    seed, everything = best["seed"], best["all"]
    print(f"\n{args.tree.name}: {len(files)} files, {lines} lines; fastest of {args.repeat} interleaved runs, -j 1, no cache")
    print("| rules | wall s | CPU s |")
    print("|---|---:|---:|")
    print(f"| five seed rules ({SEED}) | {seed['wall']:.2f} | {seed['cpu']:.2f} |")
    print(f"| whole catalogue (--select ALL) | {everything['wall']:.2f} | {everything['cpu']:.2f} |")
    print(f"| ratio (target <= 1.3x) | {everything['wall'] / seed['wall']:.2f}x | {everything['cpu'] / seed['cpu']:.2f}x |")
    print(
        f"\npaired per file in one process (CPU s): seed rules {paired['seed']:.2f}, whole catalogue "
        f"{paired['all']:.2f}, ratio {paired['all'] / paired['seed']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
