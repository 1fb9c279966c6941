"""Run the plugin zoo and write its table (issue 14).

    python bench/plugin_zoo/run_zoo.py [--zoo wider|third] [-k EXPR] [--xml results.xml] [--from-xml results.xml]

Runs `pytest --nnlint-devices=cpu` in this folder (or in the `--zoo` subfolder: the wider zoo, the third sample) (every model of pyproject.toml, one item per
check), reads the JUnit XML, and prints a markdown table: per model its library, how its inputs
were obtained, the outcome of each check, its notes and the time. Correct models must have no
failure; each broken_* model must fail the check broken.EXPECTED names, with the attribute and
rule in the message. Exit status 0 only when both hold.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKS = ("registration", "device-transfer", "freezing", "grad-flow", "state-dict-roundtrip", "train-eval")
SHORT = {"registration": "reg", "device-transfer": "dev", "freezing": "frz", "grad-flow": "grad",
         "state-dict-roundtrip": "sd", "train-eval": "t/e"}
LIBRARY = {"tv": "torchvision", "timm": "timm", "hf": "transformers", "app": "application code", "broken": "broken set"}


def run_pytest(zoo: Path, xml: Path, keyword: str | None, workers: int) -> None:
    command = [sys.executable, "-m", "pytest", "-q", "--nnlint-devices=cpu", f"--junitxml={xml}", "-o", "junit_family=xunit1"]
    if workers > 1:  # one model's checks on one worker: its built instance is reused across them
        command += ["-n", str(workers), "--dist", "loadscope"]
    if keyword:
        command += ["-k", keyword]
    subprocess.run(command, cwd=zoo, check=False)


def read_results(xml: Path) -> dict[str, dict[str, dict]]:
    """model -> check -> {"outcome", "message", "time", "notes"}."""
    results: dict[str, dict[str, dict]] = defaultdict(dict)
    for case in ET.parse(xml).getroot().iter("testcase"):
        match = re.match(r"(?P<check>[\w-]+)\[(?P<device>[\w:]+)\]", case.get("name", ""))
        model = case.get("classname", "").split(".")[-1]
        if not match or not model:
            continue
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (element.get("message") or "") + "\n" + (element.text or "")
        notes = [p.get("value", "") for p in case.iter("property") if p.get("name") == "nnlint_note"]
        results[model][match["check"]] = {
            "outcome": outcome, "message": message, "time": float(case.get("time", 0)), "notes": notes,
        }
    return results


def inputs_source(notes: list[str], model: str, declared: set[str]) -> str:
    for note in notes:
        source = _inferred_source(note)
        if source:
            return source.replace("pretrained_cfg['input_size']", "timm pretrained_cfg").replace(
                "the transformers config", "transformers config")
    return "declared in TOML" if model in declared else "inferred"


def _inferred_source(note: str) -> str | None:
    """The source in "inputs inferred from SOURCE: SHAPES"; SOURCE may hold ": " in parentheses."""
    prefix = "inputs inferred from "
    if not note.startswith(prefix):
        return None
    depth = 0
    for index, char in enumerate(note[len(prefix):], len(prefix)):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and note.startswith(": ", index):
            return note[len(prefix):index]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", choices=["wider", "third"], help="run a subfolder's models instead of this folder's")
    parser.add_argument("-k", dest="keyword")
    parser.add_argument("--xml", type=Path, default=HERE / ".zoo_results.xml")
    parser.add_argument("--from-xml", type=Path)
    parser.add_argument("-n", dest="workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    args = parser.parse_args()
    zoo = HERE / args.zoo if args.zoo else HERE
    xml = (args.from_xml or args.xml).resolve()
    if args.from_xml is None:
        run_pytest(zoo, xml, args.keyword, args.workers)
    sys.path.insert(0, str(HERE))
    from broken import EXPECTED

    import tomllib

    tables = tomllib.loads((zoo / "pyproject.toml").read_text())["tool"]["nnlint"]["models"]
    declared = {name for name, table in tables.items() if "inputs" in table}
    results = read_results(xml)
    rows, false_failures, caught, missed = [], [], [], []
    for model, checks in sorted(results.items(), key=lambda kv: (kv[0].startswith("broken"), kv[0])):
        library = LIBRARY.get(model.split("_")[0], "?")
        notes = [n for c in checks.values() for n in c["notes"]]
        cells = []
        for check in CHECKS:
            outcome = checks.get(check, {}).get("outcome", "-")
            cells.append({"passed": "ok", "failed": "FAIL", "skipped": "skip", "error": "ERR"}.get(outcome, outcome))
        seconds = sum(c["time"] for c in checks.values())
        verdict = ""
        if model.startswith("broken_"):
            check, fragments = EXPECTED[model]
            message = checks.get(check, {}).get("message", "")
            ok = checks.get(check, {}).get("outcome") == "failed" and all(f in message for f in fragments)
            (caught if ok else missed).append(model)
            verdict = f"caught by {check}: {', '.join(fragments)}" if ok else f"MISSED ({check})"
        else:
            failed = [c for c, r in checks.items() if r["outcome"] in ("failed", "error")]
            if failed:
                false_failures.append((model, failed))
            verdict = f"{len(set(notes))} note(s)"
        rows.append(f"| {model} | {library} | {inputs_source(notes, model, declared)} | {' | '.join(cells)} | {seconds:.1f} | {verdict} |")
    correct = [m for m in results if not m.startswith("broken_")]
    libraries = sorted({LIBRARY.get(m.split("_")[0], "?") for m in correct})
    print(f"| model | library | inputs | {' | '.join(SHORT[c] for c in CHECKS)} | s | verdict |")
    print("|" + "---|" * (len(CHECKS) + 5))
    print("\n".join(rows))
    print()
    print(f"correct models: {len(correct)} from {', '.join(libraries)}; false failures: {len(false_failures)}")
    for model, failed in false_failures:
        print(f"  FALSE FAILURE {model}: {', '.join(failed)}")
        for check in failed:
            print("    " + results[model][check]["message"].strip().replace("\n", "\n    ")[:1500])
    print(f"broken models: {len(caught) + len(missed)}; caught naming attribute and rule: {len(caught)}; missed: {len(missed)}")
    for model in missed:
        check, _ = EXPECTED[model]
        print(f"  MISSED {model} ({check}): {results[model].get(check, {}).get('message', '')[:800]}")
    return 0 if not false_failures and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
