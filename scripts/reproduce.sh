#!/usr/bin/env bash
# The main job: install atomdata into .venv, build the benchmark locally (no network) and reproduce
# the published comparison. Extra arguments go to `atomdata reproduce` (e.g. --quick, --out DIR).
ATOMDATA_EXTRAS="${ATOMDATA_EXTRAS:-dev}"
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
# The published AtomNet weights: use a copy beside the checkout (../shared/reference) when present and no
# other location was given; otherwise atomdata looks in its cache and then downloads them (sha256-pinned).
SHARED_WEIGHTS="$ROOT/../shared/reference/ziatdinov_atomnet/cubic-best_weights.pt"
if [ -z "${ATOMDATA_ZIATDINOV_WEIGHTS:-}" ] && [ -f "$SHARED_WEIGHTS" ]; then
    export ATOMDATA_ZIATDINOV_WEIGHTS="$SHARED_WEIGHTS"
fi
"$VENV/bin/atomdata" reproduce "$@"
