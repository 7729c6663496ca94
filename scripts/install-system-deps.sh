#!/usr/bin/env bash
# Installs the Debian packages Codette Desktop needs.
#   scripts/install-system-deps.sh runtime   -> PortAudio and the libraries Qt's xcb plugin loads
#   scripts/install-system-deps.sh test      -> runtime + Xvfb, a tray host, PulseAudio, Chromium,
#                                               a C++ toolchain for the test model server
# Skips quietly when everything is already there; needs root (or sudo) otherwise.
set -euo pipefail
profile="${1:-runtime}"

runtime=(libportaudio2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
         libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
         libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
         libxcb-xfixes0 libglib2.0-0 fonts-dejavu-core)
test_extra=(xvfb trayer x11-utils xdotool pulseaudio pulseaudio-utils libasound2-plugins
            chromium imagemagick binutils desktop-file-utils
            g++ cmake make)  # scripts/setup-llm-server.sh compiles llama.cpp

packages=("${runtime[@]}")
[ "$profile" = "test" ] && packages+=("${test_extra[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: not a Debian system; please install: ${missing[*]}" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-system-deps: need root to install: ${missing[*]}" >&2; exit 1; fi
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
