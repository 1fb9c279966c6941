"""Configuration discovery as ruff users expect it: the closest pyproject.toml that has a
``[tool.nnlint]`` table, ``--config PATH``, ``--isolated``, and ``--show-settings``."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlint.cli import main
from tests.ecosystem.helpers import BUGGY_MODEL


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/pyproject.toml with [tool.nnlint]; root/pkg/pyproject.toml without; root/pkg/sub."""
    (tmp_path / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN101"]\n')
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "pyproject.toml").write_text('[project]\nname = "pkg"\n\n[tool.black]\nline-length = 100\n')
    return tmp_path


def settings_shown(capsys, monkeypatch, cwd: Path, *args: str) -> dict[str, str]:
    monkeypatch.chdir(cwd)
    assert main(["--show-settings", *args]) == 0
    shown = {}
    for line in capsys.readouterr().out.splitlines():
        key, _, value = line.partition(" = ")
        shown[key] = value
    return shown


def test_the_closest_pyproject_with_a_tool_nnlint_table_is_used(tree, capsys, monkeypatch):
    shown = settings_shown(capsys, monkeypatch, tree / "pkg" / "sub")
    assert shown["select"] == "('NN101',)"
    assert shown["config-path"] == repr(str(tree / "pyproject.toml"))
    assert shown["project-root"] == repr(str(tree.resolve()))

    (tree / "pkg" / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN103"]\n')
    shown = settings_shown(capsys, monkeypatch, tree / "pkg" / "sub")
    assert shown["select"] == "('NN103',)"
    assert shown["project-root"] == repr(str((tree / "pkg").resolve()))


def test_config_names_the_file_and_isolated_ignores_every_file(tree, capsys, monkeypatch):
    other = tree / "other.toml"
    other.write_text('[tool.nnlint]\nignore = ["NN103"]\n')
    shown = settings_shown(capsys, monkeypatch, tree / "pkg" / "sub", "--config", str(other))
    assert (shown["select"], shown["ignore"]) == ("None", "('NN103',)")
    assert shown["project-root"] == repr(str(tree.resolve()))

    (tree / "pyproject.toml").write_text("[tool.nnlint]\nnot-a-key = 1\n")  # would be an error
    shown = settings_shown(capsys, monkeypatch, tree / "pkg" / "sub", "--isolated")
    assert (shown["select"], shown["config-path"]) == ("None", "None")


def test_command_line_flags_beat_the_file(tree, capsys, monkeypatch):
    shown = settings_shown(capsys, monkeypatch, tree, "--select", "NN103,NN301", "--extend-exclude", "data")
    assert shown["select"] == "('NN103', 'NN301')"
    assert shown["extend-exclude"] == "('data',)"


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("[tool.nnlint]\nselect = 'NN101'\n", (), "[tool.nnlint] select = 'NN101': expected a list of strings"),
        ("[tool.nnlint]\nselekt = ['NN101']\n", (), "[tool.nnlint] unknown key 'selekt' (known keys: "),
        ("[tool.nnlint\n", (), "invalid TOML"),
        ("", ("--config", "missing.toml"), "missing.toml: configuration file not found"),
    ],
)
def test_configuration_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, content, args, message):
    if content:
        (tmp_path / "pyproject.toml").write_text(content)
    monkeypatch.chdir(tmp_path)
    assert main([*args, "."]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("nnlint: error: ") and message in line


def test_the_console_script_lints_with_the_discovered_configuration(cli, tree):
    (tree / "pkg" / "sub" / "model.py").write_text(BUGGY_MODEL)
    found = cli("--output-format", "json", "model.py", cwd=tree / "pkg" / "sub")
    assert [item["code"] for item in found.json()] == ["NN101"]
    isolated = cli("--isolated", "--select", "NN103", "--output-format", "json", "model.py", cwd=tree / "pkg" / "sub")
    assert [item["code"] for item in isolated.json()] == ["NN103"]


def test_the_configuration_is_found_from_the_linted_paths_not_only_the_working_directory(cli, tree, tmp_path_factory):
    """`nnlint ../project/src` from elsewhere uses the project's settings (black's rule: the
    search starts at the deepest directory holding every path); a closer table wins."""
    (tree / "pkg" / "sub" / "model.py").write_text(BUGGY_MODEL)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN103"]\n')
    found = cli("--output-format", "json", str(tree / "pkg" / "sub" / "model.py"), cwd=elsewhere)
    assert [item["code"] for item in found.json()] == ["NN101"]  # tree's config, not elsewhere's

    (tree / "pkg" / "pyproject.toml").write_text('[tool.nnlint]\nselect = ["NN103"]\n')
    closer = cli("--output-format", "json", "pkg/sub/model.py", cwd=tree)
    assert [item["code"] for item in closer.json()] == ["NN103"]

    stdin = cli("--output-format", "json", "--stdin-filename", str(tree / "model.py"), "-", stdin=BUGGY_MODEL, cwd=elsewhere)
    assert [item["code"] for item in stdin.json()] == ["NN101"]
    # No table at or above the paths' common directory: the working directory's, as before.
    shown = cli("--show-settings", str(tree), str(elsewhere), cwd=elsewhere)
    assert "select = ('NN103',)" in shown.out.splitlines(), shown.out
