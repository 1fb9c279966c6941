"""May any installed distribution declare an entry point in a group? A cheap answer first.

Discovering rule packs through ``importlib.metadata`` and pluggy costs 30-40 ms per run (importing
them pulls in ``email``, ``zipfile`` and more), a tenth of linting one file. Rule packs are rare,
so nnlint first looks where ``importlib.metadata`` would look -- the ``*.dist-info`` and
``*.egg-info`` directories on ``sys.path`` -- for the group's section header in
``entry_points.txt``, and runs the real discovery only when one may declare it. The answer
over-approximates: what it cannot read cheaply (a zip file on ``sys.path``, a custom finder that
reports distributions of its own, an unreadable file) counts as "maybe".
"""

from __future__ import annotations

import os
import re
import sys
from importlib.machinery import PathFinder

RULE_PACK_GROUP = "nnlint"  # the entry-point group rule packs register in
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


def may_declare_entry_points(group: str) -> bool:
    """False only when no distribution that ``importlib.metadata`` can find declares ``group``."""
    if any(finder is not PathFinder and hasattr(finder, "find_distributions") for finder in sys.meta_path):
        return True
    header = re.compile(rb"^[ \t]*\[[ \t]*" + re.escape(group.encode()) + rb"[ \t]*\]", re.MULTILINE)
    for entry in sys.path:
        root = os.fspath(entry) or "."
        try:
            names = os.listdir(root)
        except (FileNotFoundError, PermissionError):
            continue  # importlib.metadata finds nothing there either
        except OSError:
            return True  # a file: perhaps a zip archive with metadata inside
        egg = os.path.basename(root).lower().endswith(".egg")
        for name in names:
            low = name.lower()
            if low.endswith(_METADATA_SUFFIXES) or (egg and low == "egg-info"):
                if _declares(os.path.join(root, name, "entry_points.txt"), header):
                    return True
    return False


def _declares(path: str, header: re.Pattern[bytes]) -> bool:
    try:
        with open(path, "rb") as file:
            return header.search(file.read()) is not None
    except (FileNotFoundError, NotADirectoryError):
        return False  # no entry points (or an .egg-info file, which cannot hold any)
    except OSError:
        return True
