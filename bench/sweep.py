"""Real-world sweep: lint the standard library of the running Python and any given source trees
with every rule; count files, findings, syntax errors and internal errors (must be zero).

    python bench/sweep.py                         # the standard library only
    python bench/sweep.py /path/to/timm /path/to/transformers ...

Get the libraries with `pip download --no-deps timm torchvision transformers diffusers -d dl`
and unzip each wheel. Exit status 1 if any internal error occurred.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path


# Nothing the default excludes would skip (the stdlib's test data included), except third-party
# packages installed inside the standard library's directory.
EXCLUDE = "site-packages"


def sweep(path: str, jobs: int) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "nnlint", "--isolated", "--no-cache", "--select", "ALL", "--no-respect-gitignore",
         "--exclude", EXCLUDE, "--output-format", "json", "-j", str(jobs), path],
        capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    try:
        items = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"path": path, "crashed": proc.stderr.strip().splitlines()[-1:] or ["no output"], "seconds": elapsed}
    files = subprocess.run(
        [sys.executable, "-m", "nnlint", "--isolated", "--no-respect-gitignore", "--exclude", EXCLUDE, "--show-files", path],
        capture_output=True, text=True,
    ).stdout.split()
    kinds = Counter(i["name"] for i in items if i["type"] == "error")
    return {
        "path": path,
        "files": len(files),
        "findings": sum(1 for i in items if i["type"] == "finding"),
        "syntax_errors": kinds.get("syntax-error", 0),
        "decode_errors": kinds.get("decode-error", 0),
        "internal_errors": kinds.get("internal-error", 0),
        "internal_examples": [i["message"] for i in items if i["name"] == "internal-error"][:5],
        "syntax_examples": [f"{i['path']}:{i['line']}: {i['message']}" for i in items if i["name"] == "syntax-error"][:5],
        "seconds": elapsed,
        "exit": proc.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    targets = [sysconfig.get_paths()["stdlib"], *args.paths]
    rows = []
    for path in targets:
        rows.append(sweep(path, args.jobs))
        print(f"done: {path} in {rows[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)  # progress for long runs
    print(f"| tree | files | findings | syntax errors | decode errors | internal errors | seconds |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    for row in rows:
        if "crashed" in row:
            print(f"| {row['path']} | CRASHED: {row['crashed']} | | | | | {row['seconds']:.0f} |")
            failed = True
            continue
        print(
            f"| {row['path']} | {row['files']} | {row['findings']} | {row['syntax_errors']} | "
            f"{row['decode_errors']} | {row['internal_errors']} | {row['seconds']:.0f} |"
        )
        failed |= row["internal_errors"] > 0
    for row in rows:
        for example in row.get("syntax_examples", []):
            print(f"syntax error: {example}")
        for example in row.get("internal_examples", []):
            print(f"INTERNAL: {example}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
