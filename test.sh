#!/usr/bin/env bash
# Sets up everything the tests need (system packages, .venv with test tools, an X server
# with a tray host, PulseAudio with a null sink, a local model server) and runs every
# check and test.
# Extra arguments go to pytest, e.g. ./test.sh -k chat
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-system-deps.sh test
bash scripts/setup-venv.sh test
# llama.cpp's model server for the `llm` tests: compiled once, then cached (minutes the
# first time, instant after).
bash scripts/setup-llm-server.sh >/dev/null
export PATH="$PWD/.venv/bin:$PATH"
# Test runs never touch the user's real data or numba cache.
export CODETTE_CACHE_DIR="${CODETTE_CACHE_DIR:-$PWD/.cache/codette}"
export NUMBA_CACHE_DIR="$CODETTE_CACHE_DIR/numba"

echo "== lint: ruff, mypy, import-linter"
ruff check codette_desktop tests bench main.py
mypy
lint-imports

echo "== tests"
bash scripts/with-test-env.sh python -m pytest "$@"
