#!/usr/bin/env bash
# A private PulseAudio daemon with a null sink, for the audio tests and the capture bench.
#
#   scripts/pulse-test-env.sh [start]   start it (or find it running) and print the environment
#   scripts/pulse-test-env.sh env       print the environment only (exit 1 if it is not running)
#   scripts/pulse-test-env.sh status    exit 0 if it answers, 1 otherwise
#   scripts/pulse-test-env.sh stop      stop it (SIGTERM, then SIGKILL after 5 s)
#
# Use it with:   eval "$(scripts/pulse-test-env.sh)"
#
# What it sets up: a null sink "codette_null" (48 kHz, stereo, float32) that is the default
# sink, and its monitor "codette_null.monitor" as the default source. Whatever `paplay`
# plays therefore comes back, unchanged, from PortAudio's ALSA "pulse"/"default" device
# (through the PulseAudio ALSA plugin from libasound2-plugins).
#
# Why not plain `pulseaudio -D`: as root PulseAudio only warns ("not intended to be run as
# root"), but it would write its socket, cookie and state into root's home and
# /run/user/0, which may not exist in containers, and it would load the machine's
# default.pa (hardware detection, D-Bus). Instead everything lives in one directory
# ($CODETTE_PULSE_DIR, default /tmp/codette-pulse-<uid>), the startup script is generated
# (-n -F), clients connect anonymously over an explicit socket (PULSE_SERVER), and the
# daemon runs in the foreground under setsid so that this script records its real pid.
# Running it twice is harmless: a daemon that answers is reused.
set -euo pipefail

action="${1:-start}"
dir="${CODETTE_PULSE_DIR:-${TMPDIR:-/tmp}/codette-pulse-$(id -u)}"
socket="$dir/native"
server="unix:$socket"
pidfile="$dir/pulseaudio.pid"
logfile="$dir/pulseaudio.log"
timeout_s="${CODETTE_PULSE_TIMEOUT:-10}"

log() { echo "pulse-test-env: $*" >&2; }

answers() { PULSE_SERVER="$server" timeout 5 pactl info >/dev/null 2>&1; }

print_env() {
  echo "export PULSE_SERVER=$server"
  # Not needed by clients (they use PULSE_SERVER), but tools that look for the daemon's
  # runtime directory (pulseaudio --check, the cookie) find it here.
  echo "export PULSE_RUNTIME_PATH=$dir/runtime"
}

our_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  # Only a pid that is still a live pulseaudio process counts: pids get reused, and a
  # killed daemon can linger as a zombie where nothing reaps orphans.
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "pulseaudio" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ] || return 1
  echo "$pid"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      our_pid >/dev/null || break  # gone, or a zombie waiting to be reaped
      sleep 0.05
    done
    if our_pid >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    log "stopped pid $pid"
  else
    log "not running"
  fi
  rm -f "$pidfile" "$socket"
}

start() {
  command -v pulseaudio >/dev/null || { log "pulseaudio is not installed"; exit 3; }
  command -v pactl >/dev/null || { log "pactl (pulseaudio-utils) is not installed"; exit 3; }
  if answers; then
    print_env
    return 0
  fi
  # A daemon of ours that does not answer is wedged: replace it.
  if our_pid >/dev/null; then stop; fi
  rm -f "$socket"
  mkdir -p "$dir/runtime" "$dir/state"
  chmod 700 "$dir" "$dir/runtime"

  cat >"$dir/daemon.conf" <<EOF
exit-idle-time = -1
default-sample-rate = 48000
default-sample-format = float32le
default-sample-channels = 2
# Unity gain end to end: the tests compare captured levels with the played ones.
flat-volumes = no
avoid-resampling = yes
realtime-scheduling = no
EOF
  cat >"$dir/default.pa" <<EOF
load-module module-native-protocol-unix auth-anonymous=1 socket=$socket
load-module module-null-sink sink_name=codette_null format=float32le rate=48000 channels=2 sink_properties=device.description=Codette_null_sink
set-default-sink codette_null
set-default-source codette_null.monitor
EOF

  # setsid: the daemon must outlive this script and not get the terminal's signals.
  PULSE_CONFIG="$dir/daemon.conf" PULSE_RUNTIME_PATH="$dir/runtime" \
    PULSE_STATE_PATH="$dir/state" \
    setsid pulseaudio --daemonize=no --system=false --exit-idle-time=-1 --disallow-exit \
      --use-pid-file=no -n -F "$dir/default.pa" --log-target="file:$logfile" \
      </dev/null >/dev/null 2>&1 &
  echo $! >"$pidfile"

  local deadline=$((SECONDS + timeout_s))
  until answers; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "pulseaudio exited during startup; log follows"
      tail -n 20 "$logfile" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "pulseaudio did not answer within ${timeout_s} s; log follows"
      tail -n 20 "$logfile" >&2 || true
      stop
      exit 1
    fi
    sleep 0.05
  done
  # Also set at runtime: the defaults must hold even if the startup script changes.
  PULSE_SERVER="$server" pactl set-default-sink codette_null
  PULSE_SERVER="$server" pactl set-default-source codette_null.monitor
  log "running, pid $(cat "$pidfile"), server $server"
  print_env
}

case "$action" in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  env) answers && print_env ;;
  *) echo "usage: $0 [start|stop|status|env]" >&2; exit 2 ;;
esac
