"""Run nnlint on TorchFix's own test fixtures, as a peer test suite (issue 15).

    python bench/torchfix_fixtures.py PATH [--verbose] [--json]

PATH is a checkout of pytorch-labs/torchfix, or a bare git directory of it (read at HEAD). The
fixtures are read from there and linted in a temporary directory; nothing is copied into this
repository.

Checker fixtures (``tests/fixtures/*/checker/X.py`` with expected ``X.txt`` lines
``LINE:COL CODE message``): an expected (code, line) counts as flagged when nnlint reports the
nnlint rule that TorchFix code maps to (the mapping in ../shared/RULES.md) on that line. The
internal-only fixtures (``tests/fixtures/internal``, TOR9xx for the pytorch/pytorch repository)
and the codes nnlint deliberately leaves out (TOR402) are listed separately, not counted.

Codemod fixtures (``X.in.py`` / ``X.out.py``): ``nnlint --fix --unsafe-fixes`` with the mapped
rules selected, then the output's AST is compared with the expected one's. Two verdicts: *exact*
(same AST) and *same modulo import placement* (the same import bindings, compared as a set, and
the same other statements in order -- where a new import line goes, or whether it is merged into
an existing `from x import ...`, is isort's business, not the fix's).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

MAPPING = {
    "TOR001": "NN801", "TOR004": "NN801",
    "TOR101": "NN802", "TOR103": "NN802",
    "TOR002": "NN109",
    "TOR003": "NN803",
    "TOR102": "NN302",
    "TOR104": "NN805", "TOR105": "NN805",
    "TOR106": "NN808", "TOR107": "NN808", "TOR108": "NN808",
    "TOR201": "NN804",
    "TOR202": "NN807", "TOR203": "NN807",
    "TOR401": "NN809",
}  # fmt: skip
NOT_COVERED = {"TOR402": "obsolete: zero_grad() sets gradients to None by default since torch 2.0"}
SELECT = ",".join(sorted(set(MAPPING.values())))
EXPECTED_LINE = re.compile(r"^(\d+):(\d+) (TOR\d+) ")


class Source:
    """A torchfix checkout, or a bare git directory read at HEAD."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bare = not (path / "tests" / "fixtures").is_dir()

    def files(self) -> list[str]:
        if not self.bare:
            root = self.path
            return sorted(str(p.relative_to(root)) for p in (root / "tests" / "fixtures").rglob("*") if p.is_file())
        out = subprocess.run(
            ["git", "--git-dir", str(self.path), "ls-tree", "-r", "--name-only", "HEAD", "tests/fixtures"],
            check=True, capture_output=True, text=True,
        ).stdout
        return sorted(out.split())

    def read(self, name: str) -> str:
        if not self.bare:
            return (self.path / name).read_text(encoding="utf-8")
        return subprocess.run(
            ["git", "--git-dir", str(self.path), "show", f"HEAD:{name}"], check=True, capture_output=True, text=True
        ).stdout


def nnlint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nnlint", "--isolated", "--no-cache", "-j", "1", *args],
        capture_output=True, text=True,
    )


def run_checkers(source: Source, files: list[str], work: Path, verbose: bool) -> dict[str, list[int]]:
    """{TorchFix code: [expected, flagged]} over every non-internal checker fixture."""
    pairs = [(f, f[:-3] + ".txt") for f in files if "/checker/" in f and f.endswith(".py") and f[:-3] + ".txt" in files]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    skipped: dict[str, int] = defaultdict(int)
    local: dict[str, str] = {}
    for py, _ in pairs:
        target = work / "checker" / py.replace("/", "__")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read(py), encoding="utf-8")
        local[py] = str(target)
    result = nnlint("--select", SELECT, "--output-format", "json", *local.values())
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for item in json.loads(result.stdout or "[]"):
        if item.get("type") == "finding":
            found[item["path"]].add((item["code"], item["line"]))
    for py, txt in pairs:
        expected = set()
        for line in source.read(txt).splitlines():
            match = EXPECTED_LINE.match(line)
            if match:
                expected.add((match.group(3), int(match.group(1))))
        for code, line in sorted(expected, key=lambda e: (e[1], e[0])):
            if "/internal/" in py or code not in MAPPING:
                skipped[code] += 1
                continue
            hit = (MAPPING[code], line) in found[local[py]]
            totals[code][0] += 1
            totals[code][1] += hit
            if verbose and not hit:
                print(f"  missed {py}:{line} {code} (-> {MAPPING[code]})")
    if skipped:
        print("not counted: " + ", ".join(f"{code} x{n}" for code, n in sorted(skipped.items())))
    return totals


def _normalised(tree: ast.Module) -> tuple[list[tuple[str, str, str]], list[str]]:
    imports: set[tuple[str, str, str]] = set()
    others = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            imports.update(("", a.name, a.asname or "") for a in stmt.names)
        elif isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__":
            imports.update(("." * stmt.level + (stmt.module or ""), a.name, a.asname or "") for a in stmt.names)
        else:
            others.append(ast.dump(stmt))
    return sorted(imports), others


def run_codemods(source: Source, files: list[str], work: Path, verbose: bool) -> tuple[int, int, int, list[str]]:
    """(codemods, exact, same modulo import placement, names of the misses)."""
    inputs = [f for f in files if "/codemod/" in f and f.endswith(".in.py") and f[: -len(".in.py")] + ".out.py" in files]
    exact = modulo = 0
    misses = []
    for name in inputs:
        target = work / "codemod" / name.replace("/", "__").replace(".in.py", ".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read(name), encoding="utf-8")
        nnlint("--select", SELECT, "--fix", "--unsafe-fixes", str(target))
        got = target.read_text(encoding="utf-8")
        want = source.read(name[: -len(".in.py")] + ".out.py")
        try:
            got_tree, want_tree = ast.parse(got), ast.parse(want)
        except SyntaxError as exc:
            misses.append(f"{name} (output does not parse: {exc})")
            continue
        same = ast.dump(got_tree) == ast.dump(want_tree)
        close = same or _normalised(got_tree) == _normalised(want_tree)
        exact += same
        modulo += close
        if not close:
            misses.append(name)
            if verbose:
                import difflib

                print(f"  codemod differs: {name}")
                for line in difflib.unified_diff(want.splitlines(), got.splitlines(), "expected", "nnlint", lineterm=""):
                    print("    " + line)
    return len(inputs), exact, modulo, misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("torchfix", type=Path, help="a torchfix checkout or bare git directory")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    source = Source(args.torchfix)
    files = source.files()
    work = Path(tempfile.mkdtemp(prefix="nnlint-torchfix-"))
    try:
        totals = run_checkers(source, files, work, args.verbose)
        expected = sum(t[0] for t in totals.values())
        flagged = sum(t[1] for t in totals.values())
        print(f"{'TorchFix':8} {'nnlint':6} {'expected':>8} {'flagged':>7}")
        for code in sorted(totals):
            print(f"{code:8} {MAPPING[code]:6} {totals[code][0]:8} {totals[code][1]:7}")
        print(f"checker lines: {flagged}/{expected} flagged ({100 * flagged / max(expected, 1):.1f}%)")
        for code, why in NOT_COVERED.items():
            print(f"{code}: not covered ({why})")
        count, exact, modulo, misses = run_codemods(source, files, work, args.verbose)
        print(
            f"codemods: {modulo}/{count} reproduced ({100 * modulo / max(count, 1):.1f}%; "
            f"{exact} with the identical AST, {modulo - exact} differing only in import placement)"
        )
        for miss in misses:
            print(f"  not reproduced: {miss}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    raise SystemExit(main())
