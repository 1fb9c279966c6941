"""Fix sweep: run `nnlint --fix --unsafe-fixes` over a copy of real model code and check that it
never breaks a file and that a second run changes nothing.

    python bench/fix_sweep.py [--corpus /work/corpus/src] [--work /tmp/fixsweep] [-j 2]

Steps: copy the corpus packages to --work (never fix the originals); a plain lint as the
baseline; `--diff` (what would change, saved next to the copy for reading); `--fix`; compile every
file that changed; `--diff` again, which must print nothing. Times are wall and CPU (the CPU time
of nnlint and its workers, which a busy machine inflates less). Prints a Markdown summary for
bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

PACKAGES = ("timm", "torchvision", "transformers", "diffusers")


def _nnlint() -> list[str]:
    script = Path(sys.executable).with_name("nnlint")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nnlint"]


def _hashes(root: Path) -> dict[Path, str]:
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(root.rglob("*.py"))}


def _compile_error(path: Path) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _run(args: list[str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """The finished process and "wall s / CPU s"."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([*_nnlint(), *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, f"{wall:.0f} s wall / {cpu:.0f} s CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus/src"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/fixsweep"))
    parser.add_argument("-j", "--jobs", default="2")
    parser.add_argument("--select", default="ALL")
    options = parser.parse_args()
    if options.work.resolve().is_relative_to(Path(__file__).resolve().parent.parent):
        parser.error("--work must be outside the repository")

    shutil.rmtree(options.work, ignore_errors=True)
    options.work.mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(options.corpus / package, options.work / package, symlinks=True)
    flags = ["--isolated", "--no-cache", "--select", options.select, "--unsafe-fixes", "-j", options.jobs, "-q"]
    before = _hashes(options.work)
    lines = sum(path.read_bytes().count(b"\n") for path in before)
    broken_before = {path for path in before if _compile_error(path)}
    load = os.getloadavg()[0]

    _, lint_time = _run([*flags, "--exit-zero", str(options.work)])
    diff, diff_time = _run([*flags, "--diff", str(options.work)])
    diff_path = options.work.with_suffix(".diff")
    diff_path.write_text(diff.stdout)
    fix, fix_time = _run([*flags, "--fix", "--exit-zero", str(options.work)])
    after = _hashes(options.work)
    changed = [path for path in before if after[path] != before[path]]
    failures = {path: error for path in changed if (error := _compile_error(path))}
    again, again_time = _run([*flags, "--diff", str(options.work)])

    # `--diff` reports per rule on stderr: "Would fix N findings in M files (NN301: 5, ...)".
    summary = re.search(r"Would fix (\d+) findings? in (\d+) files? \(([^)]*)\)", diff.stderr)
    per_rule = summary.group(3) if summary else "none"
    print(f"- corpus: {', '.join(PACKAGES)} -- {len(before)} files, {lines:,} lines (copied to {options.work})")
    print(f"- command: `nnlint {' '.join(flags)} --fix` (exit {fix.returncode} with --exit-zero)")
    print(f"- files changed: {len(changed)}; fixes applied per rule: {per_rule}")
    print(f"- files that no longer compile: {len(failures)} (files that did not compile before: {len(broken_before)})")
    print(f"- second run: `--diff` printed {len(again.stdout.splitlines())} lines (exit {again.returncode})")
    print(f"- time on {options.jobs} jobs (load average {load:.1f} at the start on {os.cpu_count()} CPUs):")
    print(f"  plain lint {lint_time}; --diff {diff_time}; --fix {fix_time}; second --diff {again_time}")
    print(f"- the full diff is in {diff_path} ({len(diff.stdout.splitlines())} lines)")
    for path, error in failures.items():
        print(f"  BROKEN {path}: {error}")
    errors = [line for line in fix.stdout.splitlines() if ": error: " in line]
    if errors:
        print(f"- {len(errors)} errors reported by --fix, e.g.:")
        for line in errors[:10]:
            print(f"  {line}")
    return 1 if failures or again.stdout else 0


if __name__ == "__main__":
    sys.exit(main())
