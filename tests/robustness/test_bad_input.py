"""Any input, no crash: each bad input gets a clear one-line message and a documented exit code,
and never stops the other files from being linted."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import run_cli

BUGGY = (
    "import torch\nimport torch.nn as nn\n\n\nclass Model(nn.Module):\n    def __init__(self):\n"
    "        super(CNN, self).__init__()\n"
)


def reported(result) -> list[tuple[str, int | None, str | None]]:
    return [(os.path.basename(i["path"]), i["line"], i["code"]) for i in result.json()]


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "model.py").write_text(BUGGY)
    return tmp_path


def assert_one_line_error(result, name: str, text: str) -> None:
    lines = [line for line in result.out.splitlines() if line.startswith(name) or f"/{name}" in line]
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1, result.out
    assert text in errors[0], errors[0]
    assert "model.py:7:9: NN101" in result.out  # the other file was still linted


def test_binary_file_named_py(tree):
    (tree / "image.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = run_cli(cwd=tree)
    assert result.code == 2
    assert_one_line_error(result, "image.py", "NUL bytes")


def test_undecodable_bytes_without_nul(tree):
    (tree / "latin.py").write_bytes("name = 'café'\n".encode("latin-1"))
    result = run_cli(cwd=tree)
    assert result.code == 2
    assert_one_line_error(result, "latin.py", "not valid utf-8")


def test_latin1_with_coding_declaration_is_linted(tree):
    (tree / "model.py").write_bytes(("# -*- coding: latin-1 -*-\n# café\n" + BUGGY).encode("latin-1"))
    result = run_cli("--output-format", "json", cwd=tree)
    assert result.code == 1
    assert reported(result) == [("model.py", 9, "NN101")]


def test_unknown_coding_declaration(tree):
    (tree / "odd.py").write_bytes(b"# -*- coding: klingon -*-\nx = 1\n")
    result = run_cli(cwd=tree)
    assert result.code == 2
    assert_one_line_error(result, "odd.py", "klingon")


def test_utf8_bom_crlf_tabs_and_mixed_line_endings(tree):
    (tree / "model.py").write_bytes(b"\xef\xbb\xbf" + BUGGY.replace("\n", "\r\n").encode())
    (tree / "mixed.py").write_bytes(BUGGY.replace("\n", "\r\n", 3).encode())
    (tree / "tabs.py").write_text(BUGGY.replace("        super", "\t\tsuper").replace("    def", "\tdef"))
    result = run_cli("--output-format", "json", cwd=tree)
    assert result.code == 1, result.out
    assert sorted(reported(result)) == [("mixed.py", 7, "NN101"), ("model.py", 7, "NN101"), ("tabs.py", 7, "NN101")]


def test_empty_file_and_whitespace_only(tree):
    (tree / "empty.py").write_text("")
    (tree / "blank.py").write_text("\n\n   \n")
    result = run_cli("--output-format", "json", cwd=tree)
    assert result.code == 1
    assert reported(result) == [("model.py", 7, "NN101")]


def test_large_generated_file(tree):
    lines = [f"value_{i} = {i} * 2" for i in range(50_000)]
    (tree / "generated.py").write_text("\n".join(lines) + "\n")
    result = run_cli("--output-format", "json", cwd=tree)
    assert result.code == 1
    assert reported(result) == [("model.py", 7, "NN101")]


def test_brackets_nested_beyond_any_parser(tree):
    (tree / "deep.py").write_text("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    result = run_cli(cwd=tree)
    assert result.code == 2
    assert_one_line_error(result, "deep.py", "too many nested parentheses")


def test_indentation_nested_beyond_the_tokenizer(tree):
    source = "".join("    " * depth + "if x:\n" for depth in range(150)) + "    " * 150 + "pass\n"
    (tree / "deep.py").write_text(source)
    result = run_cli(cwd=tree)
    assert result.code == 2
    assert_one_line_error(result, "deep.py", "syntax error")


def test_python2_syntax(tree):
    (tree / "old.py").write_text('print "hello"\nexec "x = 1"\n')
    result = run_cli(cwd=tree)
    assert result.code == 2
    assert_one_line_error(result, "old.py", "syntax error")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tree):
    target = tree / "secret.py"
    target.write_text("x = 1\n")
    target.chmod(0)
    try:
        result = run_cli(cwd=tree)
    finally:
        target.chmod(0o644)
    assert result.code == 2
    assert_one_line_error(result, "secret.py", "Permission denied")


def test_unreadable_file_in_process(tmp_path, monkeypatch):
    from nnlint import sources

    target = tmp_path / "secret.py"
    target.write_text("x = 1\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sources, "open", denied, raising=False)
    with pytest.raises(sources.SourceError, match="cannot read: Permission denied"):
        sources.read_source(str(target))


def test_symlink_loop_and_fifo(tree):
    (tree / "sub").mkdir()
    (tree / "sub" / "inner.py").write_text("x = 1\n")
    os.symlink("..", tree / "sub" / "loop")
    os.symlink("missing.py", tree / "dangling.py")
    os.mkfifo(tree / "pipe.py")
    files = run_cli("--show-files", cwd=tree).out.split()
    assert files.count("sub/inner.py") == 1
    assert "pipe.py" not in files
    result = run_cli(cwd=tree)
    assert result.code == 1 and "NN101" in result.out
    fifo = run_cli("pipe.py", cwd=tree)
    assert fifo.code == 2 and "not a regular file" in fifo.out


def test_directory_with_no_python_files(tmp_path):
    (tmp_path / "README.md").write_text("# nothing\n")
    result = run_cli(cwd=tmp_path)
    assert result.code == 0
    assert "no Python files found" in result.err


def test_unknown_code_in_noqa_warns_and_still_lints(tree):
    (tree / "model.py").write_text(BUGGY.replace("__init__()\n", "__init__()  # noqa: NN999\n"))
    result = run_cli(cwd=tree)
    assert result.code == 1
    assert "unknown rule code 'NN999' in a noqa comment" in result.err
    assert "NN101" in result.out


def test_unknown_code_in_select_warns(tree):
    result = run_cli("--select", "NN101,XYZ42", cwd=tree)
    assert result.code == 1
    assert "unknown rule selector 'XYZ42'" in result.err


def test_broken_pyproject(tree):
    (tree / "pyproject.toml").write_text("[tool.nnlint\nselect = [")
    result = run_cli(cwd=tree)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "pyproject.toml: invalid TOML" in result.err
