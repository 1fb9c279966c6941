"""The editor's parser (nnlint/incremental.py) gives exactly LibCST's parse of the whole file."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

import nnlint
from nnlint.incremental import IncrementalParser, split_statements
from nnlint.parsing import parse_module

CASES = {
    "comments and blank lines": "# header\n\nimport a\n\n# about b\nb = 2\n\n\n# footer\n",
    "indented comment ends a block": "def f():\n    x = 1\n    # the block's\n\n# the next one's\ny = 2\n",
    "indented comment after blank lines": "def f():\n    x = 1\n\n\n    # still the block's\ny = 2\n",
    "whitespace-only indented line": "x = 1\n    \n# c\ny = 2\n",
    "whitespace line after a block": "def f():\n    return 1\n \n\ndef g():\n    return 2\n",
    "two-space indent, first block late": "import a\nx = 1\n\nclass A:\n  def f(self):\n    if self:\n      return 1\n\nclass B:\n    pass\n",
    "decorators": "@a\n@b(1)\ndef f():\n    pass\n\n\n@c\nclass C:\n    x: int = 1\n",
    "docstring and no trailing newline": '"""Module."""\n\nx = 1\ny = 2',
    "else block on its own": "if x: pass\nelse:\n   y = 1\nz = 3\n",
    "match": "match x:\n  case 1:\n    pass\ny = 1\n",
    "indented comment after a plain statement": "x = 1\n    # c\ny = 2\n",
    "block-deep whitespace line after a block": "def f():\n    return 1\n    \ndef g():\n    return 2\n",
    "shallow whitespace line after a block": "def f():\n    return 1\n \ndef g():\n    return 2\n",
    "comment shallower than the block": "def f():\n    if x:\n        return 1\n  # c\ny = 2\n",
    "multi-line expression": "x = f(\n    1,\n    2,\n)\ny = [\n  3]\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_same_tree_as_a_whole_parse(text: str) -> None:
    assert split_statements(text) is not None
    assert IncrementalParser().parse(text).deep_equals(parse_module(text))


def test_an_edit_reparses_only_its_statement() -> None:
    parser = IncrementalParser()
    before = "import torch\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"
    first = parser.parse(before)
    after = before.replace("return 2", "return 3")
    second = parser.parse(after)
    assert second.deep_equals(parse_module(after))
    assert second.body[0] is first.body[0] and second.body[1] is first.body[1]  # reused
    assert second.body[2] is not first.body[2]  # re-parsed


def test_a_repeated_statement_gets_its_own_nodes(tmp_path: Path) -> None:
    """Identical chunks share a cache entry, but never a place in one tree: a finding on the
    second copy is reported on its own line (through the editor's linter)."""
    from nnlint.registry import Registry
    from nnlint.runner import FileLinter
    from nnlint.settings import Settings

    text = "import torch\n\nx = torch.zeros(3)\nx.cuda()\nx.cuda()\n"
    tree = IncrementalParser().parse(text)
    assert tree.body[2] is not tree.body[3] and tree.body[2].deep_equals(tree.body[3])
    linter = FileLinter(Settings(project_root=str(tmp_path)), Registry(), [tmp_path], incremental=True)
    for _ in range(2):  # the second lint comes from the cache
        result = linter.lint_text(text, str(tmp_path / "m.py"))
        assert [(f.code, f.line) for f in result.findings] == [("NN501", 4), ("NN501", 5)]


@pytest.mark.parametrize("text", ["a = 1; b = 2\nc = 3\n", "x = 1\n\fy = 2\n", "x = (\n"])
def test_what_cannot_be_cut_is_parsed_whole(text: str) -> None:
    assert split_statements(text) is None
    try:
        expected: object = parse_module(text)
    except cst.ParserSyntaxError as exc:
        with pytest.raises(cst.ParserSyntaxError) as raised:
            IncrementalParser().parse(text)
        assert str(raised.value) == str(exc)
    else:
        assert IncrementalParser().parse(text).deep_equals(expected)  # type: ignore[arg-type]


def test_every_file_of_this_repository() -> None:
    """Real code: nnlint's own sources and tests (bench/ and the corpora are checked the same way
    by the commit that added this parser: 2,815 library and application files, all equal)."""
    root = Path(nnlint.__file__).parent.parent
    files = sorted([*root.joinpath("nnlint").rglob("*.py"), *root.joinpath("tests").rglob("*.py")])
    assert len(files) > 100
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            expected = parse_module(text)
        except cst.ParserSyntaxError:
            continue  # test data that is invalid on purpose
        assert IncrementalParser().parse(text).deep_equals(expected), path
