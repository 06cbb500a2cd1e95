#!/usr/bin/env bash
# The main job: install atomdata into .venv, build the benchmark locally (no network) and reproduce
# the published comparison. Extra arguments go to `atomdata reproduce` (e.g. --quick, --out DIR).
ATOMDATA_EXTRAS="${ATOMDATA_EXTRAS:-dev}"
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
"$VENV/bin/atomdata" reproduce "$@"
