"""Shared by the ecosystem tests: notebooks as Jupyter writes them, and the rules they select
(the seed rules, so these tests do not depend on which other rules exist)."""

from __future__ import annotations

import json
from typing import Any

SEED_RULES = "NN101,NN102,NN103,NN201,NN301"

BUGGY_MODEL = """\
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super(CNN, self).__init__()
        self.scale = torch.ones(3)
"""
FIXED_MODEL = """\
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.ones(3))
"""


def source_lines(text: str) -> list[str]:
    """Jupyter's `source` list: one string per line, the last without its newline."""
    lines = text.splitlines(keepends=True)
    if lines and lines[-1].endswith("\n"):
        lines[-1] = lines[-1][:-1]
    return [line for line in lines if line]


def notebook_json(cells: list[Any], language: str = "python") -> str:
    """An nbformat 4 notebook as Jupyter writes it (indent 1, sorted keys). A cell is a string
    (a code cell) or a (cell_type, source) pair."""
    built = []
    for number, cell in enumerate(cells, 1):
        kind, text = ("code", cell) if isinstance(cell, str) else cell
        entry: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source_lines(text)}
        if kind == "code":
            entry["execution_count"] = number
            entry["outputs"] = [{"name": "stdout", "output_type": "stream", "text": [f"output of cell {number}\n"]}]
        built.append(entry)
    data = {
        "cells": built,
        "metadata": {
            "kernelspec": {"display_name": language, "language": language, "name": language},
            "language_info": {"name": language},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
