#!/usr/bin/env bash
# Creates or refreshes .venv at the repo root with the project installed (editable).
#   scripts/setup-venv.sh          runtime dependencies
#   scripts/setup-venv.sh test     + test and lint tools
# Re-installs only when pyproject.toml changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' || {
  echo "Codette Desktop needs Python 3.11 or newer (found $("$python" --version))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
spec="."
# The tests build and run the PyInstaller bundle too.
[ "$extra" = "test" ] && spec=".[test,package]"
stamp=".venv/.codette-installed-$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing codette-desktop${extra:+ [$extra]} into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e "$spec"
  touch "$stamp"
fi
