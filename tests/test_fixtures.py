"""The demo corpus: `nnlint fixtures/` reports exactly the findings annotated in the files."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO, run_cli

FIXTURES = REPO / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)")


def _sources(path) -> list[tuple[int | None, str]]:
    """(cell, text) of a fixture: the whole file (cell None), or each cell of a notebook."""
    if path.suffix != ".ipynb":
        return [(None, path.read_text(encoding="utf-8"))]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(number, "".join(cell["source"])) for number, cell in enumerate(cells, 1) if cell["cell_type"] == "code"]


def expected_findings() -> set[tuple[str, int | None, int, str]]:
    """(path, cell, line, code) of every `# expect:` comment (cell None outside notebooks)."""
    expected = set()
    for path in sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".py", ".ipynb")):
        for cell, text in _sources(path):
            for number, line in enumerate(text.splitlines(), 1):
                match = EXPECT.search(line)
                if match:
                    for code in match.group("codes").split(","):
                        expected.add((path.relative_to(REPO).as_posix(), cell, number, code.strip()))
    return expected


def test_demo_reports_exactly_the_annotated_findings():
    result = run_cli("fixtures", "--output-format", "json", cwd=REPO)
    assert result.code == 1, result.err
    reported = {(item["path"], item["cell"], item["line"], item["code"]) for item in result.json()}
    expected = expected_findings()
    assert reported == expected, (
        f"missing: {sorted(expected - reported)}\nunexpected: {sorted(reported - expected)}"
    )


def test_demo_covers_every_seed_rule():
    codes = {code for *_, code in expected_findings()}
    assert {"NN101", "NN102", "NN103", "NN201", "NN301"} <= codes


def test_clean_counterpart_has_no_findings():
    result = run_cli("--isolated", "fixtures/seed_notes_clean.py", cwd=REPO)
    assert result.code == 0, result.out
    assert "All checks passed!" in result.out


def test_cross_file_module_detection_with_only_the_subclass_file_given(tmp_path):
    # The base class lives in backbone.py; only heads.py is linted, from another directory.
    result = run_cli("--isolated", str(FIXTURES / "crossfile" / "models" / "heads.py"), "--output-format", "json", cwd=tmp_path)
    codes = sorted((item["line"], item["code"]) for item in result.json())
    assert codes == [(10, "NN102"), (18, "NN103")]
