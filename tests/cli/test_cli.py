"""The command line, through the real console script: flags, output formats, exit codes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

BUGGY = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn


    class Model(nn.Module):
        def __init__(self):
            super(CNN, self).__init__()
            self.my_tensor = torch.randn(1)
    """
)
CLEAN = "import torch.nn as nn\n\n\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "model.py").write_text(BUGGY)
    (tmp_path / "pkg" / "clean.py").write_text(CLEAN)
    return tmp_path


def codes(result) -> list[tuple[str, int, str]]:
    return [(Path(i["path"]).name, i["line"], i["code"]) for i in result.json() if i["type"] == "finding"]


def test_findings_exit_1_with_text_format(project):
    result = run_cli(cwd=project)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith("pkg/model.py:7:9: NN101 ")
    assert lines[1].startswith("pkg/model.py:8:9: NN103 ")
    assert lines[-1].startswith("Found 2 findings in 1 file")


def test_clean_tree_exits_0(tmp_path):
    (tmp_path / "clean.py").write_text(CLEAN)
    result = run_cli(cwd=tmp_path)
    assert result.code == 0
    assert "All checks passed!" in result.out


def test_json_output_fields_are_one_based_and_sorted(project):
    result = run_cli("--output-format", "json", cwd=project)
    items = result.json()
    assert [i["code"] for i in items] == ["NN101", "NN103"]
    first = items[0]
    assert {"code", "name", "message", "path", "line", "column", "end_line", "end_column", "fix"} <= set(first)
    assert (first["line"], first["column"], first["end_line"]) == (7, 9, 7)
    assert first["name"] == "super-wrong-class"
    assert "CNN" in first["message"] and "Model" in first["message"]


def test_same_input_same_output(project):
    assert run_cli("-j", "2", cwd=project).out == run_cli("-j", "1", cwd=project).out


def test_select_ignore_prefix_and_all(project):
    assert [c for *_, c in codes(run_cli("--select", "NN101", "--output-format", "json", cwd=project))] == ["NN101"]
    assert [c for *_, c in codes(run_cli("--ignore", "NN1", "--output-format", "json", cwd=project))] == []
    assert len(codes(run_cli("--select", "ALL", "--output-format", "json", cwd=project))) >= 2
    by_name = run_cli("--select", "tensor-attribute-not-registered", "--output-format", "json", cwd=project)
    assert [c for *_, c in codes(by_name)] == ["NN103"]
    extended = run_cli("--select", "NN101", "--extend-select", "NN103", "--output-format", "json", cwd=project)
    assert [c for *_, c in codes(extended)] == ["NN101", "NN103"]


def test_unknown_selector_warns_but_runs(project):
    result = run_cli("--select", "NN101,NN999", cwd=project)
    assert result.code == 1
    assert "unknown rule selector 'NN999'" in result.err


def test_per_file_ignores_flag_and_config(project):
    result = run_cli("--per-file-ignores", "pkg/model.py:NN101", "--output-format", "json", cwd=project)
    assert [c for *_, c in codes(result)] == ["NN103"]
    (project / "pyproject.toml").write_text('[tool.nnlint]\nper-file-ignores = { "pkg/*" = ["NN103"] }\n')
    result = run_cli("--output-format", "json", cwd=project)
    assert [c for *_, c in codes(result)] == ["NN101"]


def test_bad_per_file_ignores_value_is_a_usage_error(project):
    result = run_cli("--per-file-ignores", "nocolon", cwd=project)
    assert result.code == 2
    assert "--per-file-ignores 'nocolon'" in result.err


def test_noqa_line_codes_and_file_level(project):
    model = project / "pkg" / "model.py"
    model.write_text(BUGGY.replace("__init__()\n", "__init__()  # noqa: NN101\n", 1))
    assert [c for *_, c in codes(run_cli("--output-format", "json", cwd=project))] == ["NN103"]
    model.write_text(BUGGY.replace("torch.randn(1)", "torch.randn(1)  # noqa"))
    assert [c for *_, c in codes(run_cli("--output-format", "json", cwd=project))] == ["NN101"]
    model.write_text("# nnlint: noqa\n" + BUGGY)
    assert run_cli(cwd=project).code == 0
    model.write_text("# nnlint: noqa: NN103\n" + BUGGY)
    assert [c for *_, c in codes(run_cli("--output-format", "json", cwd=project))] == ["NN101"]


def test_noqa_on_any_line_of_a_multiline_statement(tmp_path):
    (tmp_path / "m.py").write_text(
        "import torch\nimport torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.t = torch.zeros(\n            3,\n        )  # noqa: NN103\n"
    )
    assert run_cli(cwd=tmp_path).code == 0


def test_noqa_inside_a_string_does_not_count(tmp_path):
    (tmp_path / "m.py").write_text(BUGGY.replace("torch.randn(1)", "torch.randn(1); s = '# noqa'"))
    result = run_cli("--output-format", "json", cwd=tmp_path)
    assert "NN103" in [c for *_, c in codes(result)]


def test_syntax_error_next_to_buggy_file_exit_2_and_both_reported(project):
    (project / "pkg" / "broken.py").write_text("def f(:\n    pass\n")
    result = run_cli(cwd=project)
    assert result.code == 2
    assert "pkg/broken.py:1:" in result.out and "syntax error" in result.out
    assert "pkg/model.py:7:9: NN101" in result.out
    as_json = run_cli("--output-format", "json", cwd=project).json()
    errors = [i for i in as_json if i["type"] == "error"]
    assert errors and errors[0]["path"] == "pkg/broken.py" and errors[0]["line"] == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"x = '\xff\xfe'\n", "not valid utf-8"), (b"x = 1\0\n", "NUL bytes")],
)
def test_undecodable_file_is_reported_exit_2(tmp_path, content, reason):
    (tmp_path / "bad.py").write_bytes(content)
    (tmp_path / "model.py").write_text(BUGGY)
    result = run_cli(cwd=tmp_path)
    assert result.code == 2
    assert reason in result.out
    assert "model.py:7:9: NN101" in result.out


def test_missing_path_is_reported_exit_2(project):
    result = run_cli("pkg", "nope.py", cwd=project)
    assert result.code == 2
    assert "nope.py: error: no such file or directory" in result.out
    assert "pkg/model.py:7:9: NN101" in result.out


def test_exit_zero(project):
    result = run_cli("--exit-zero", cwd=project)
    assert result.code == 0 and "NN101" in result.out


def test_statistics(project):
    result = run_cli("--statistics", cwd=project)
    assert result.code == 1
    # [*] means what it means in the other formats: `--fix` with these flags would apply it.
    assert result.out.splitlines() == ["1\tNN101\t[*] super-wrong-class", "1\tNN103\t[ ] tensor-attribute-not-registered"]
    unsafe = run_cli("--statistics", "--unsafe-fixes", cwd=project)
    assert unsafe.out.splitlines() == ["1\tNN101\t[*] super-wrong-class", "1\tNN103\t[*] tensor-attribute-not-registered"]


def test_version():
    from nnlint import __version__

    result = run_cli("--version")
    assert result.code == 0 and result.out.strip() == f"nnlint {__version__}"


def test_stdin_with_filename():
    result = run_cli("-", "--stdin-filename", "models/net.py", stdin=BUGGY)
    assert result.code == 1
    assert result.out.startswith("models/net.py:7:9: NN101")


def test_stdin_without_filename():
    result = run_cli("-", stdin=CLEAN)
    assert result.code == 0


def test_rule_docs_by_code_and_name_and_all():
    page = run_cli("rule", "NN301")
    assert page.code == 0
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
        assert heading in page.out
    assert run_cli("rule", "state-dict-snapshot-alias").out == page.out
    listing = run_cli("rule", "--all")
    assert listing.code == 0
    for code in ("NN101", "NN102", "NN103", "NN201", "NN301"):
        assert code in listing.out
    unknown = run_cli("rule", "NN999")
    assert unknown.code == 2 and "unknown rule 'NN999'" in unknown.err


def test_default_excludes_and_gitignore(project):
    for skipped in (".venv", "build", "node_modules", "__pycache__"):
        (project / skipped).mkdir()
        (project / skipped / "m.py").write_text(BUGGY)
    (project / "generated").mkdir()
    (project / "generated" / "m.py").write_text(BUGGY)
    (project / ".git").mkdir()
    (project / ".gitignore").write_text("generated/\n")
    files = run_cli("--show-files", cwd=project).out.split()
    assert files == ["pkg/clean.py", "pkg/model.py"]
    everything = run_cli("--show-files", "--no-respect-gitignore", cwd=project).out.split()
    assert "generated/m.py" in everything


def test_exclude_and_extend_exclude_and_explicit_file(project):
    assert run_cli("--show-files", "--extend-exclude", "model.py", cwd=project).out.split() == ["pkg/clean.py"]
    # A file named explicitly is linted even when excluded...
    assert run_cli("--extend-exclude", "model.py", "pkg/model.py", cwd=project).code == 1
    # ...unless --force-exclude (what pre-commit passes).
    assert run_cli("--extend-exclude", "model.py", "--force-exclude", "pkg/model.py", cwd=project).code == 0
    assert run_cli("--show-files", "--exclude", "clean.py", cwd=project).out.split() == ["pkg/model.py"]


def test_force_exclude_covers_files_in_excluded_directories(project):
    """pre-commit names files, never their directories: an excluded folder must still cover them
    (on disk, on stdin with --stdin-filename, and through .gitignore)."""
    assert run_cli("--extend-exclude", "pkg", "--force-exclude", "pkg/model.py", cwd=project).code == 0
    assert run_cli("--extend-exclude", "pkg", "pkg/model.py", cwd=project).code == 1  # without the flag
    buggy = (project / "pkg" / "model.py").read_text()
    stdin = run_cli("--extend-exclude", "pkg", "--force-exclude", "--stdin-filename", "pkg/model.py", "-", cwd=project, stdin=buggy)
    assert stdin.code == 0
    (project / ".git").mkdir()
    (project / ".gitignore").write_text("pkg/\n")
    assert run_cli("--force-exclude", "pkg/model.py", cwd=project).code == 0
    # Directories above the project root are not matched: a checkout inside a folder called `pkg`
    # is not excluded by `pkg`.
    inner = project / "pkg" / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[tool.nnlint]\nextend-exclude = ["pkg"]\nforce-exclude = true\n')
    (inner / "m.py").write_text(buggy)
    assert run_cli("--no-respect-gitignore", "m.py", cwd=inner).code == 1


def test_config_file_select_and_cli_wins(project):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN103"]\n')
    assert [c for *_, c in codes(run_cli("--output-format", "json", cwd=project))] == ["NN103"]
    assert [c for *_, c in codes(run_cli("--select", "NN101", "--output-format", "json", cwd=project))] == ["NN101"]
    assert len(codes(run_cli("--isolated", "--output-format", "json", cwd=project))) == 2


def test_config_found_from_subdirectory(project):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nignore = ["NN101"]\n')
    result = run_cli("model.py", "--output-format", "json", cwd=project / "pkg")
    assert [c for *_, c in codes(result)] == ["NN103"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[tool.nnlint]\nselct = ["NN1"]\n', "unknown key 'selct'"),
        ('[tool.nnlint]\nselect = "NN1"\n', "select = 'NN1': expected a list of strings"),
        ('[tool.nnlint]\nrespect-gitignore = "yes"\n', "respect-gitignore = 'yes': expected true or false"),
        ('[tool.nnlint\n', "invalid TOML"),
    ],
)
def test_bad_config_is_one_line_error_exit_2(project, toml, message):
    (project / "pyproject.toml").write_text(toml)
    result = run_cli(cwd=project)
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert "pyproject.toml" in result.err and message in result.err


def test_explicit_config_path(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("cfg") / "pyproject.toml"
    other.write_text('[tool.nnlint]\nselect = ["NN101"]\n')
    result = run_cli("--config", str(other), "--output-format", "json", cwd=project)
    assert [c for *_, c in codes(result)] == ["NN101"]
    missing = run_cli("--config", "nope.toml", cwd=project)
    assert missing.code == 2 and "nope.toml: configuration file not found" in missing.err


def test_show_settings(project):
    (project / "pyproject.toml").write_text('[tool.nnlint]\nignore = ["NN101"]\n')
    result = run_cli("--show-settings", cwd=project)
    assert result.code == 0
    assert "ignore = ('NN101',)" in result.out


def test_no_python_files_warns_and_exits_0(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = run_cli(cwd=tmp_path)
    assert result.code == 0
    assert "no Python files found" in result.err


def test_python_dash_m(project):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "nnlint", "--output-format", "json"], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 1
    assert [i["code"] for i in json.loads(proc.stdout)] == ["NN101", "NN103"]


def test_repository_itself_is_clean():
    # The project's own config excludes fixtures/; everything else must lint clean.
    result = run_cli(cwd=REPO)
    assert result.code == 0, result.out
