"""Inputs that once made nnlint fail (found by bench/sweep.py or the long fuzz profile), each kept
as the smallest snippet that showed the bug."""

from __future__ import annotations

import dataclasses

from nnlint.fixing import fix_text
from tests.conftest import lint_snippet, run_cli

UNREGISTERED_TENSOR = (
    "import torch\nimport torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
    "        super().__init__()\n        self.t = torch.zeros(3)\n"
)


def fix_everything(source: str):
    return fix_text(source, "snippet.py", lint_snippet, lambda fix: fix is not None)


def test_fix_is_applied_when_the_original_already_fails_to_compile():
    # LibCST parses `return` outside a function, CPython's compile() rejects it: the fix did not
    # cause that, so it must not be blamed for it (the fuzzer found this).
    source = UNREGISTERED_TENSOR + "\nreturn\n"
    outcome = fix_everything(source)
    assert outcome.failure is None, outcome.failure
    assert outcome.applied == {"NN103": 1}
    assert "register_buffer" in outcome.text and outcome.text.endswith("\nreturn\n")


def test_fix_that_breaks_compilation_of_a_valid_file_is_still_refused(monkeypatch):
    from nnlint import fixes

    source = UNREGISTERED_TENSOR
    real_apply = fixes.apply_fixes

    def breaking_apply(text, fixes):  # a fix with a bug: it appends a statement CPython rejects
        return dataclasses.replace(real_apply(text, fixes), text=real_apply(text, fixes).text + "\nreturn\n")

    monkeypatch.setattr(fixes, "apply_fixes", breaking_apply)  # fixing imports it when it fixes
    outcome = fix_everything(source)
    assert outcome.text == source
    assert outcome.failure is not None
    assert "fix for NN103 would make the file invalid" in outcome.failure.message
    assert "'return' outside function" in outcome.failure.message


# -- code nested deeper than LibCST can parse ---------------------------------------------------
# LibCST's parse time is cubic in nesting depth and it crashes the process (SIGSEGV) on ~10,000
# `elif`s or 5,000 nested brackets; the sweep and the fuzzer never produce such files, but
# generated code can.


def test_long_call_chain_is_reported_not_parsed():
    source = "import torch\n\nx = f" + "()" * 1200 + "\n"  # valid Python; LibCST: ~3 s, cubic beyond
    result = lint_snippet(source)
    assert [(e.kind, e.line) for e in result.errors] == [("syntax", 3)]
    assert result.errors[0].message.startswith("cannot parse: code nested 1,2")
    assert "exclude it if it is generated" in result.errors[0].message


def test_long_method_chain_one_link_per_line_is_reported():
    chain = "x = (\n    torch.nn.Sequential()\n" + "    .add(1)\n" * 600 + ")\n"  # as black formats it
    result = lint_snippet("import torch\n" + chain)
    assert [e.kind for e in result.errors] == ["syntax"]
    assert "levels deep" in result.errors[0].message


def test_large_data_table_is_still_linted():
    table = "DATA = [\n" + "".join(f"    ({i}, {i / 2}, 'row_{i}'),\n" for i in range(2000)) + "]\n"
    result = lint_snippet(table + UNREGISTERED_TENSOR)
    assert not result.errors
    assert [f.code for f in result.findings] == ["NN103"]


def test_ten_thousand_elifs_do_not_crash(tmp_path):
    (tmp_path / "dispatch.py").write_text("import torch\nif x:\n    pass\n" + "elif x:\n    pass\n" * 10_000)
    (tmp_path / "model.py").write_text(UNREGISTERED_TENSOR)
    result = run_cli("--select", "ALL", cwd=tmp_path)
    assert result.code == 2, result.out + result.err  # 139 (SIGSEGV) before the guard
    assert "dispatch.py" in result.out and "model.py:8:9: NN103" in result.out


def test_deeply_nested_base_class_module_does_not_crash(tmp_path):
    # Summarising a parent class's module fell back to LibCST when `ast` refused the file.
    (tmp_path / "base.py").write_text("import torch.nn as nn\nclass Base(nn.Module):\n    pass\nx = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    (tmp_path / "model.py").write_text("from base import Base\n\n\nclass M(Base):\n    def __init__(self):\n        super().__init__()\n")
    result = run_cli("--select", "ALL", "model.py", cwd=tmp_path)
    assert result.code == 0, result.out + result.err  # 139 (SIGSEGV) before the guard


def test_valid_code_that_libcst_validation_rejects_is_linted(tmp_path):
    # LibCST parses this, then its node validation raises TypeError (LibCST issue #1061); that
    # stopped the whole run with "internal error" and no result for any other file.
    (tmp_path / "odd.py").write_text("import torch\nx = () if 0 else(lambda:())\n")
    (tmp_path / "model.py").write_text(UNREGISTERED_TENSOR)
    result = run_cli("--select", "ALL", "--no-cache", cwd=tmp_path)
    assert result.code == 1, result.out + result.err
    assert "model.py:8:9: NN103" in result.out and "odd.py" not in result.out + result.err


def test_a_libcst_crash_on_one_file_is_that_file_s_error(tmp_path, monkeypatch):
    from nnlint import engine

    def crash_on_odd(source):
        if "odd" in source:
            raise TypeError("boom")
        return real_parse(source)

    real_parse = engine.parse_module
    monkeypatch.setattr(engine, "parse_module", crash_on_odd)
    result = lint_snippet("import torch\nodd = 1\n", path="odd.py")
    assert [(e.kind, e.message) for e in result.errors] == [
        ("internal", f"cannot parse: LibCST {engine._libcst_version()} failed on this file (TypeError: boom); the file was not linted")
    ]
    assert [f.code for f in lint_snippet(UNREGISTERED_TENSOR).findings] == ["NN103"]
