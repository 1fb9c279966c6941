"""nnlint: a static linter for PyTorch model code (never imports torch)."""

__version__ = "0.1.0"
