"""Output formats other tools read: SARIF (validated against the 2.1.0 schema), GitHub workflow
commands (byte-exact), JSON lines, and the concise/full text formats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest

from nnlint.findings import FileError, FileResult, Finding
from nnlint.report import Report
from nnlint.report.github import write_github
from tests.ecosystem.helpers import BUGGY_MODEL, SEED_RULES

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json").read_text())


def _validate_sarif(log: dict) -> None:
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose pyproject.toml is one level above the code."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.nnlint]\nselect = {SEED_RULES.split(',')!r}\n".replace("'", '"'))
    models = tmp_path / "src" / "models"
    models.mkdir(parents=True)
    (models / "net.py").write_text(BUGGY_MODEL)
    (models / "broken.py").write_text("def f(:\n    pass\n")
    return tmp_path


def _sarif(cli, cwd: Path, *paths: str) -> dict:
    result = cli("--output-format", "sarif", *paths, cwd=cwd)
    assert result.code == 2, result.err  # broken.py could not be linted
    return json.loads(result.out)


# -- SARIF -------------------------------------------------------------------------------------


def test_sarif_is_valid_and_complete(cli, project):
    log = _sarif(cli, project / "src", "models")
    _validate_sarif(log)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "nnlint" and driver["version"] and driver["informationUri"].startswith("https://")
    assert [rule["id"] for rule in driver["rules"]] == ["NN101", "NN103"]
    nn101 = driver["rules"][0]
    assert nn101["name"] == "super-wrong-class"
    assert nn101["shortDescription"]["text"] and nn101["fullDescription"]["text"]
    assert "## Why is this bad?" in nn101["help"]["markdown"] and "Use instead:" in nn101["help"]["text"]
    assert nn101["defaultConfiguration"] == {"level": "error"}

    # Paths are relative to the project root (where pyproject.toml is), not to the working directory.
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"
    results = run["results"]
    assert [(r["ruleId"], r["ruleIndex"]) for r in results] == [("NN101", 0), ("NN103", 1)]
    location = results[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/models/net.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 7, "startColumn": 9, "endLine": 7, "endColumn": 25}
    assert results[0]["level"] == "error" and "super(CNN, self)" in results[0]["message"]["text"]

    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["descriptor"] == {"id": "syntax-error"}
    assert notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/models/broken.py"
    assert notification["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_sarif_fingerprints_survive_unrelated_edits_and_tell_repeats_apart(cli, project):
    net = project / "src" / "models" / "net.py"
    net.write_text(BUGGY_MODEL + "        self.shift = torch.ones(3)\n        self.scale = torch.ones(3)\n")

    def fingerprints() -> list[tuple[str, int, str]]:
        results = _sarif(cli, project, "src")["runs"][0]["results"]
        return [
            (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"], r["partialFingerprints"]["nnlint/v1"])
            for r in results
        ]

    before = fingerprints()
    assert [line for _, line, _ in before] == [7, 8, 9, 10]
    # The two `self.scale = torch.ones(3)` lines are told apart by their occurrence.
    assert len({fingerprint for _, _, fingerprint in before}) == 4

    net.write_text('"""A docstring added later."""\n\n' + net.read_text())
    after = fingerprints()
    assert [line for _, line, _ in after] == [9, 10, 11, 12]
    assert [fingerprint for _, _, fingerprint in after] == [fingerprint for _, _, fingerprint in before]


def test_sarif_with_no_findings_is_valid(cli, tmp_path):
    (tmp_path / "clean.py").write_text("x = 1\n")
    result = cli("--isolated", "--select", SEED_RULES, "--output-format", "sarif", "clean.py", cwd=tmp_path)
    assert result.code == 0
    log = json.loads(result.out)
    _validate_sarif(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True


# -- GitHub workflow commands ------------------------------------------------------------------


def _finding(path: str, line: int, column: int, end_line: int, end_column: int, message: str, code: str = "NN101") -> Finding:
    names = {"NN101": "super-wrong-class", "NN102": "missing-super-init"}
    return Finding(path, line, column, end_line, end_column, code, names[code], message)


def _github(*results: FileResult) -> str:
    out = io.StringIO()
    write_github(Report(list(results), len(results)), out)
    return out.getvalue()


def test_github_annotations_are_byte_exact():
    result = FileResult(
        "pkg/model.py",
        findings=[
            _finding("pkg/model.py", 6, 9, 6, 25, "`super(CNN, self)` names `CNN`; use `super()`"),
            # Spanning several lines: GitHub rejects col/endColumn there.
            _finding("pkg/model.py", 10, 5, 14, 12, "`Classifier.__init__` never calls `super().__init__()`", "NN102"),
        ],
    )
    assert _github(result) == (
        "::error file=pkg/model.py,line=6,col=9,endLine=6,endColumn=25,title=NN101 super-wrong-class::"
        "`super(CNN, self)` names `CNN`; use `super()`\n"
        "::error file=pkg/model.py,line=10,endLine=14,title=NN102 missing-super-init::"
        "`Classifier.__init__` never calls `super().__init__()`\n"
    )


def test_github_annotations_escape_messages_and_properties():
    path = "dir,with:odd/50%.py"
    result = FileResult(path, findings=[_finding(path, 1, 1, 1, 2, "100% sure: a, b\nnext line\r\nend")])
    assert _github(result) == (
        "::error file=dir%2Cwith%3Aodd/50%25.py,line=1,col=1,endLine=1,endColumn=2,title=NN101 super-wrong-class::"
        "100%25 sure: a, b%0Anext line%0D%0Aend\n"
    )


def test_github_annotations_for_files_that_could_not_be_linted():
    results = [
        FileResult("bad.py", errors=[FileError("bad.py", "syntax error: invalid syntax", 3, 7, "syntax")]),
        FileResult("gone.py", errors=[FileError("gone.py", "no such file or directory", kind="io")]),
    ]
    assert _github(*results) == (
        "::error file=bad.py,line=3,col=7,title=nnlint syntax error::syntax error: invalid syntax\n"
        "::error file=gone.py,title=nnlint io error::no such file or directory\n"
    )


def test_github_format_from_the_command_line(cli, tmp_path):
    (tmp_path / "model.py").write_text(BUGGY_MODEL)
    result = cli("--isolated", "--select", "NN101", "--output-format", "github", "model.py", cwd=tmp_path)
    assert result.code == 1
    assert result.out == (
        "::error file=model.py,line=7,col=9,endLine=7,endColumn=25,title=NN101 super-wrong-class::"
        "`super(CNN, self)` in class `Model` names `CNN`, which is not `Model` or one of its bases; "
        "use `super()` (or `super(Model, self)`)\n"
    )


# -- JSON lines and the text formats -----------------------------------------------------------


def test_json_lines_carries_the_same_objects_as_json(cli, project):
    as_json = cli("--output-format", "json", "src", cwd=project)
    as_lines = cli("--output-format", "json-lines", "src", cwd=project)
    assert as_json.code == as_lines.code == 2
    objects = [json.loads(line) for line in as_lines.out.splitlines()]
    assert objects == as_json.json()
    assert [(o["type"], o["code"], o["path"], o["cell"], o["line"]) for o in objects] == [
        ("error", None, "src/models/broken.py", None, 1),
        ("finding", "NN101", "src/models/net.py", None, 7),
        ("finding", "NN103", "src/models/net.py", None, 8),
    ]


def test_concise_and_full_formats(cli, tmp_path):
    (tmp_path / "model.py").write_text(BUGGY_MODEL)
    args = ("--isolated", "--select", "NN101", "model.py")
    concise = cli(*args, "--output-format", "concise", cwd=tmp_path)
    assert concise.out == cli(*args, cwd=tmp_path).out  # text is concise
    first, summary = concise.out.splitlines()
    assert first.startswith("model.py:7:9: NN101 [*] `super(CNN, self)` in class `Model`")
    assert summary.startswith("Found 1 finding in 1 file")

    full = cli(*args, "--output-format", "full", cwd=tmp_path).out.splitlines()
    assert full[0] == first
    assert full[1:4] == [
        "   7 |         super(CNN, self).__init__()",
        "     |         ^^^^^^^^^^^^^^^^",
        "     = help: `nnlint rule NN101` explains super-wrong-class",
    ]
