#!/usr/bin/env bash
# Sets up .venv (and the system libraries, when run as root on Debian) and starts the app.
# Without a display it runs headless and says so. Extra arguments go to the app,
# e.g. ./run.sh --headless --port 8123
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-system-deps.sh runtime
bash scripts/setup-venv.sh
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" = "Linux" ]; then
  case " $* " in *" --headless "*) ;; *)
    echo "run.sh: no display found (DISPLAY/WAYLAND_DISPLAY unset): starting headless" ;;
  esac
fi
exec .venv/bin/python main.py "$@"
