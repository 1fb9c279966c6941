"""Third-party rule packs: the example pack installed for real with pip, then used through the
real console script; broken packs are one-line errors with exit code 2."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nnlint import plugins
from nnlint.registry import Registry
from nnlint.testing import check_rule_examples
from tests.conftest import REPO

PACK = REPO / "tests" / "example_pack"
PRINTING_MODEL = """\
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        print(x.shape)
        return x
"""


@pytest.fixture(scope="module")
def pack_site(tmp_path_factory) -> Path:
    """A directory the example pack was pip-installed into (put it on PYTHONPATH to use it)."""
    source = tmp_path_factory.mktemp("pack-source") / "pack"
    shutil.copytree(PACK, source, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    site = tmp_path_factory.mktemp("pack-site")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)]
    if importlib.util.find_spec("hatchling") is not None:
        command[4:4] = ["--no-build-isolation", "--no-index"]  # build with what is here: no network
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "nnlint_example_pack" / "print_in_forward.py").is_file()
    return site


@pytest.fixture
def with_pack(pack_site):
    def run(cli, *args: str, cwd: Path):
        return cli(*args, cwd=cwd, env={"PYTHONPATH": str(pack_site)})

    return run


def test_pack_rules_are_listed_and_documented(with_pack, cli, tmp_path):
    listing = with_pack(cli, "rule", "--all", cwd=tmp_path)
    assert listing.code == 0, listing.err
    (row,) = [line for line in listing.out.splitlines() if line.startswith("XMP001")]
    assert row.split()[:4] == ["XMP001", "print-in-forward", "on", "none"]
    page = with_pack(cli, "rule", "print-in-forward", cwd=tmp_path)
    assert page.code == 0 and page.out.startswith("# print-in-forward (XMP001)")


def test_pack_rules_are_reported_selected_ignored_and_suppressed(with_pack, cli, tmp_path):
    (tmp_path / "model.py").write_text(PRINTING_MODEL)
    default = with_pack(cli, "--isolated", "model.py", cwd=tmp_path)
    assert default.code == 1, default.err
    assert default.out.splitlines()[0] == (
        "model.py:6:9: XMP001 `print()` in `Model.forward` runs on every step; "
        "log from a forward hook or behind a debug flag instead"
    )
    selected = with_pack(cli, "--isolated", "--select", "XMP", "--output-format", "json", "model.py", cwd=tmp_path)
    assert [item["code"] for item in selected.json()] == ["XMP001"]
    ignored = with_pack(cli, "--isolated", "--select", "XMP,NN101", "--ignore", "print-in-forward", "model.py", cwd=tmp_path)
    assert ignored.code == 0, ignored.out

    (tmp_path / "model.py").write_text(PRINTING_MODEL.replace("print(x.shape)", "print(x.shape)  # noqa: XMP001"))
    suppressed = with_pack(cli, "--isolated", "--select", "XMP", "model.py", cwd=tmp_path)
    assert suppressed.code == 0, suppressed.out


def test_pack_runs_its_examples_with_nnlint_testing(pack_site, tmp_path):
    """The pack's own test suite, run against the installed copy, as its authors would."""
    tests = tmp_path / "pack-tests"
    shutil.copytree(PACK / "tests", tests)
    env = {**os.environ, "PYTHONPATH": str(pack_site)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:nnlint", str(tests)],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout


def test_check_rule_examples_passes_a_good_rule_and_names_a_failing_example(monkeypatch):
    monkeypatch.syspath_prepend(str(PACK))
    from nnlint_example_pack.print_in_forward import PrintInForward

    check_rule_examples(PrintInForward)

    class Wrong(PrintInForward):
        VALID = ["import torch.nn as nn\n\nclass M(nn.Module):\n    def forward(self, x):\n        print(x)\n"]

    with pytest.raises(AssertionError, match=r"XMP001 \(print-in-forward\) VALID example: expected no finding, got line 5"):
        check_rule_examples(Wrong)


# -- broken packs ------------------------------------------------------------------------------


def _install_fake_pack(site: Path, module_source: str, name: str = "broken-pack") -> None:
    """A distribution as pip leaves it: the module and a dist-info with the entry point."""
    module = name.replace("-", "_")
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nnlint]\npack = {module}\n")


RULE_HEAD = """
import libcst as cst
from nnlint.rule import Rule

class Base(Rule):
    summary = what = why = "text"
    VALID = ["x = 1\\n"]
    INVALID = ["print(1)  # error\\n"]

    def visit_Call(self, node):
        pass
"""

BROKEN_PACKS = {
    "import-error": ("import missing_dependency_of_the_pack\n", "cannot load: ModuleNotFoundError: No module named 'missing_dependency_of_the_pack'"),
    "hook-raises": ("def nnlint_rules():\n    raise RuntimeError('boom')\n", "nnlint_rules() raised RuntimeError: boom"),
    "not-a-list": ("def nnlint_rules():\n    return 'XMP001'\n", "nnlint_rules() must return a list of Rule classes, not 'XMP001'"),
    "not-a-rule": ("def nnlint_rules():\n    return [dict]\n", "<class 'dict'> is not a subclass of nnlint.rule.Rule"),
    "bad-definition": (
        RULE_HEAD + "class Bad(Base):\n    code = 'xmp1'\n    name = 'Bad Name'\n\ndef nnlint_rules():\n    return [Bad]\n",
        "Bad: code 'xmp1' is not like NN123; name 'Bad Name' is not kebab-case",
    ),
    "name-clash": (
        RULE_HEAD + "class Clash(Base):\n    code = 'XMP002'\n    name = 'super-wrong-class'\n\ndef nnlint_rules():\n    return [Clash]\n",
        "XMP002: name 'super-wrong-class' is already used by NN101 (nnlint)",
    ),
}


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    plugins.discover_rule_packs.cache_clear()
    yield site
    plugins.discover_rule_packs.cache_clear()
    for name in [m for m in sys.modules if m == "broken_pack"]:
        del sys.modules[name]


@pytest.mark.parametrize("case", sorted(BROKEN_PACKS))
def test_a_broken_pack_is_a_one_line_error_naming_it(fake_site, case):
    source, expected = BROKEN_PACKS[case]
    _install_fake_pack(fake_site, source)
    with pytest.raises(plugins.PluginError) as raised:
        plugins.discover_rule_packs()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("rule pack broken-pack")
    assert message.endswith(expected)


def test_a_code_clash_with_a_builtin_rule_is_an_error(fake_site):
    _install_fake_pack(fake_site, RULE_HEAD + "class Clash(Base):\n    code = 'NN101'\n    name = 'my-rule'\n\ndef nnlint_rules():\n    return [Clash]\n")
    with pytest.raises(ValueError, match=r"^rule pack broken-pack \(pack = broken_pack\): code NN101 is already used by nnlint$"):
        Registry.with_plugins()


def test_an_unmarked_hook_function_is_accepted(fake_site):
    _install_fake_pack(fake_site, RULE_HEAD + "class Good(Base):\n    code = 'XMP009'\n    name = 'my-rule'\n\ndef nnlint_rules():\n    return [Good]\n")
    assert [(rule.code, origin) for rule, origin in plugins.discover_rule_packs()] == [
        ("XMP009", "broken-pack (pack = broken_pack)")
    ]


def test_the_command_line_exits_2_with_one_line_for_a_broken_pack(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install_fake_pack(site, "import missing_dependency_of_the_pack\n")
    (tmp_path / "model.py").write_text("x = 1\n")
    result = cli("--isolated", "model.py", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert result.code == 2
    assert result.out == ""
    assert result.err == (
        "nnlint: error: rule pack broken-pack (pack = broken_pack): cannot load: "
        "ModuleNotFoundError: No module named 'missing_dependency_of_the_pack'\n"
    )
