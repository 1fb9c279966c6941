"""The server's conversions, without a server: columns in the client's encoding, the noqa edit,
which action kinds a request asks for, tags."""

from __future__ import annotations

import pytest
from lsprotocol import types

from nnlint.server.actions import FIX_ALL_KIND, noqa_edit, wanted
from nnlint.server.core import Change, Span
from nnlint.registry import Registry
from nnlint.server.protocol import Positions, client_column, code_point_column, tags_for

UTF8, UTF16, UTF32 = types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf32
LINE = "x = '🔥é'; y = 1"  # an astral character (2 UTF-16 units, 4 UTF-8 bytes) and a 2-byte one


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_columns_round_trip(encoding):
    for column in range(len(LINE) + 1):
        assert code_point_column(LINE, client_column(LINE, column, encoding), encoding) == column


def test_column_after_astral_and_accented_characters():
    y = LINE.index("y")
    assert client_column(LINE, y, UTF32) == y
    assert client_column(LINE, y, UTF16) == y + 1  # 🔥 is a surrogate pair
    assert client_column(LINE, y, UTF8) == len(LINE[:y].encode())


def test_an_insertion_after_the_last_line_of_a_cell_starts_a_new_line():
    positions = Positions("import torch\nimport torch.nn as nn", UTF16)  # no final newline, as cells
    edit = positions.edit(Change(Span(2, 0, 2, 0), "import copy\n"))
    assert edit.range.start == types.Position(1, len("import torch.nn as nn"))
    assert edit.new_text == "\nimport copy"


def apply(text: str, edit: types.TextEdit) -> str:
    line = text.split("\n")[edit.range.start.line]
    start, end = edit.range.start.character, edit.range.end.character
    lines = text.split("\n")
    lines[edit.range.start.line] = line[:start] + edit.new_text + line[end:]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("self.t = torch.zeros(3)", "self.t = torch.zeros(3)  # noqa: NN103"),
        ("self.t = torch.zeros(3)   ", "self.t = torch.zeros(3)  # noqa: NN103"),
        ("self.t = torch.zeros(3)  # noqa: NN101", "self.t = torch.zeros(3)  # noqa: NN101, NN103"),
        ("self.t = torch.zeros(3)  # type: ignore", "self.t = torch.zeros(3)  # type: ignore  # noqa: NN103"),
    ],
)
def test_noqa_edit(line, expected):
    text = f"class M:\n{line}\n"
    edit = noqa_edit(text, 1, "NN103", Positions(text, UTF16))
    assert edit is not None
    assert apply(text, edit) == f"class M:\n{expected}\n"


@pytest.mark.parametrize("line", ["x = a + \\", "x = 1  # noqa"])
def test_no_noqa_edit_where_it_cannot_or_need_not_go(line):
    text = f"{line}\n    b\n"
    assert noqa_edit(text, 0, "NN103", Positions(text, UTF16)) is None


def test_requested_kinds():
    assert wanted(None, FIX_ALL_KIND) and wanted([], types.CodeActionKind.QuickFix)
    assert wanted([types.CodeActionKind.Source], FIX_ALL_KIND)
    assert wanted([types.CodeActionKind.SourceFixAll], FIX_ALL_KIND)
    assert not wanted([types.CodeActionKind.QuickFix], FIX_ALL_KIND)
    assert not wanted(["source.fixAll.ruff"], FIX_ALL_KIND)


def test_tags_come_from_the_rules():
    registry = Registry()
    assert tags_for(registry.load("NN501").tags) == [types.DiagnosticTag.Unnecessary]
    assert tags_for(registry.load("NN801").tags) == [types.DiagnosticTag.Deprecated]
    assert tags_for(registry.load("NN101").tags) is None
    assert tags_for(registry.load("NN808").tags) is None  # numerically unstable, not deprecated
