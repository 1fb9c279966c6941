"""Regenerate docs/rules.md from the rule classes (a test fails when it is out of date)."""

from __future__ import annotations

import sys
from pathlib import Path

from nnlint.docs import rules_markdown
from nnlint.registry import Registry

TARGET = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def main() -> int:
    text = rules_markdown(Registry())
    if "--check" in sys.argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python scripts/gen_rule_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
