#!/usr/bin/env bash
# Removes what packaging/install-linux.sh installed, and the "Start at login" entry
# (~/.config/autostart/codette-desktop.desktop). --purge also deletes settings, chat
# memory, logs and the numba cache. Same as: install-linux.sh --uninstall [--purge]
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-linux.sh" --uninstall "$@"
