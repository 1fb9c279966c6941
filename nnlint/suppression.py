"""``# noqa`` comments: per line (``# noqa``, ``# noqa: NN101,NN103``) and per file
(``# nnlint: noqa`` or ``# nnlint: noqa: NN301`` on a line of its own).

Comments are found with the tokenizer, so ``"# noqa"`` inside a string does not count, and only
in files that have findings and mention ``noqa`` at all.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

_LINE_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(
    r"^[ \t]*#[ \t]*nnlint:[ \t]*noqa(?::[ \t]*(?P<codes>[A-Za-z]+[0-9]+(?:[ \t,]+[A-Za-z]+[0-9]+)*))?[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
_CODE_SPLIT = re.compile(r"[\s,]+")

ALL = None  # a bare noqa: every code


def _codes(text: str | None) -> frozenset[str] | None:
    if not text:
        return ALL
    return frozenset(code.upper() for code in _CODE_SPLIT.split(text.strip()) if code)


def file_directive(source: str) -> tuple[bool, frozenset[str] | None]:
    """(present, codes) for a file-level ``# nnlint: noqa``; codes None means every rule."""
    codes: set[str] = set()
    for match in _FILE_NOQA.finditer(source):
        found = _codes(match.group("codes"))
        if found is ALL:
            return True, ALL
        codes |= found
    return (bool(codes), frozenset(codes)) if codes else (False, frozenset())


@dataclass
class LineSuppressions:
    by_line: dict[int, frozenset[str] | None] = field(default_factory=dict)

    def suppresses(self, code: str, first_line: int, last_line: int) -> tuple[bool, int | None]:
        """Whether a noqa on any of the lines covers ``code``; returns the line that matched."""
        for line in range(first_line, last_line + 1):
            if line in self.by_line:
                codes = self.by_line[line]
                if codes is ALL or code in codes:
                    return True, line
        return False, None

    def codes_used(self) -> set[str]:
        return {code for codes in self.by_line.values() if codes for code in codes}


def line_suppressions(source: str) -> LineSuppressions:
    result = LineSuppressions()
    if "noqa" not in source.lower():
        return result
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        tokens = []
    for token in tokens:
        if token.type == tokenize.COMMENT:
            match = _LINE_NOQA.search(token.string)
            if match is not None:
                result.by_line[token.start[0]] = _codes(match.group("codes"))
    return result
