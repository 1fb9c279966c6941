"""The configuration error every torch-free module raises (kept apart so they can share it)."""

from __future__ import annotations


class SpecError(ValueError):
    """A model description is invalid: the message names where (file, key) and what."""
