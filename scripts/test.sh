#!/usr/bin/env bash
# Install atomdata with its test and foundry extras into .venv, then run the tests.
# Extra arguments go to pytest (e.g. --runslow to include the slow tests, as CI does).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
"$PY" -m pytest "$@"
