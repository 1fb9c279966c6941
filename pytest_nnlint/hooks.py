"""Hooks that conftest files and other plugins implement (registered via pytest_addhooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_nnlint.spec import ModelSpec


@pytest.hookspec
def pytest_nnlint_model_specs(config: pytest.Config) -> list[ModelSpec] | None:
    """Contribute models to check, in addition to ``[tool.nnlint.models]`` in pyproject.toml.

    Return a list of :class:`pytest_nnlint.ModelSpec` (or None). Every implementation is called
    and the lists are concatenated; model names must be unique. Each model gets one test item
    per check and device, named ``NAME::CHECK[DEVICE]``.
    """
