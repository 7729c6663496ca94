#!/usr/bin/env bash
# Sets up .venv (and the system libraries, when run as root on Debian) and starts the app.
# Without a display it runs headless and says so. Extra arguments go to the app,
# e.g. ./run.sh --headless --port 8123
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-system-deps.sh runtime
bash scripts/setup-venv.sh
# Without a display the app itself says so and runs headless.
exec .venv/bin/python main.py "$@"
