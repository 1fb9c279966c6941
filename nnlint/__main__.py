"""`python -m nnlint` is the console script."""

import sys

from nnlint.cli import main

if __name__ == "__main__":
    sys.exit(main())
