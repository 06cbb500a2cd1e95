#!/usr/bin/env bash
# Install atomdata with its test and foundry extras into .venv, then run every check:
# the import layers (lint-imports), ruff, the documentation build (mkdocs --strict) and the tests
# with the doctests of every module. Extra arguments go to pytest (e.g. --runslow, as CI passes).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
"$VENV/bin/lint-imports"
"$VENV/bin/ruff" check .
NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --quiet -f docs/mkdocs.yml --site-dir "$(mktemp -d)"
"$PY" -m pytest "$@"
