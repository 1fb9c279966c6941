import importlib.util
import sys
from pathlib import Path

# Run the pack's tests from source when it is not installed (as in nnlint's own test suite;
# tests/ecosystem also installs it for real and runs them against the installed copy).
if importlib.util.find_spec("nnlint_example_pack") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
