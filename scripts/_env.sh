# Shared by scripts/test.sh and scripts/reproduce.sh: create .venv (or $ATOMDATA_VENV) and install atomdata.
# torch==2.13.0 is installed first so pip does not pull a multi-GB CUDA build for `torch>=2.2`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ATOMDATA_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet "torch==2.13.0"
"$PY" -m pip install --quiet -e "$ROOT[${ATOMDATA_EXTRAS:-dev,foundry,io}]"
