#!/usr/bin/env bash
# Runs a command with the test environment up: Xvfb + trayer (a tray host) and a
# user-mode PulseAudio with a null sink. Tears them down afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
cleanup() {
  [ -n "${TRAYER_PID:-}" ] && kill "$TRAYER_PID" 2>/dev/null || true
  [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
  [ -x scripts/pulse-test-env.sh ] && bash scripts/pulse-test-env.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

if command -v Xvfb >/dev/null 2>&1 && [ -z "${CODETTE_TEST_DISPLAY:-}" ]; then
  display=":$((90 + RANDOM % 100))"
  Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/tmp/codette-xvfb.log 2>&1 &
  XVFB_PID=$!
  for _ in $(seq 100); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
  export CODETTE_TEST_DISPLAY="$display"
fi
if [ -f scripts/pulse-test-env.sh ]; then
  eval "$(bash scripts/pulse-test-env.sh start)"
fi
"$@"
