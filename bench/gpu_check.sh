#!/usr/bin/env bash
# Run pytest_nnlint's own tests with their CUDA paths (device=cuda parameters, `parity`) and the
# cost benchmark on CPU and CUDA, on a machine with an NVIDIA GPU.
#
#   bash bench/gpu_check.sh            # PYTHON=python3 by default; extra args go to pytest
#
# Needs: torch (with CUDA) and pytest already importable by $PYTHON. Installs nothing from the
# network: when the plugin's pytest11 entry point is not installed, it tries
# `pip install -e . --no-deps --no-build-isolation` and, failing that (offline, no hatchling),
# registers the entry point with a throw-away metadata folder on PYTHONPATH.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

echo "== environment"
if ! "$PYTHON" -c 'import torch; print(torch.cuda.is_available())' >/dev/null 2>&1; then
    echo "torch is not importable by $PYTHON: install torch with CUDA first" >&2
    exit 2
fi
"$PYTHON" - <<'PY'
import sys, torch, pytest
print("python", sys.version.split()[0], "| torch", torch.__version__, "| pytest", pytest.__version__)
print("torch.cuda.is_available():", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0), "| CUDA", torch.version.cuda)
PY

has_entry_point() {
    "$PYTHON" -c 'import importlib.metadata as m, sys
sys.exit(0 if any(e.value == "pytest_nnlint.plugin" for e in m.entry_points(group="pytest11")) else 1)'
}
if ! has_entry_point; then
    if "$PYTHON" -m pip install -e . --no-deps --no-build-isolation -q >/dev/null 2>&1 && has_entry_point; then
        echo "installed the project in editable mode"
    else
        site=$(mktemp -d)
        mkdir -p "$site/nnlint-0.0.0.dist-info"
        printf 'Metadata-Version: 2.1\nName: nnlint\nVersion: 0.0.0\n' >"$site/nnlint-0.0.0.dist-info/METADATA"
        printf '[pytest11]\nnnlint = pytest_nnlint.plugin\n' >"$site/nnlint-0.0.0.dist-info/entry_points.txt"
        export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
        has_entry_point && echo "registered the pytest11 entry point through PYTHONPATH (no install)"
    fi
fi

echo "== plugin tests (CUDA included; -rs lists every skip and its reason)"
"$PYTHON" -m pytest tests/plugin -rs -q -p no:cacheprovider -p no:hypothesispytest "$@"
status=$?

echo "== cost benchmark, cpu"
"$PYTHON" bench/bench_plugin.py --device cpu
if "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "== cost benchmark, cuda"
    "$PYTHON" bench/bench_plugin.py --device cuda
fi

echo "== plugin tests: exit status $status"
exit $status
