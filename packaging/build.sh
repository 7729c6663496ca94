#!/usr/bin/env bash
# Builds the Codette Desktop bundle from a clean checkout, in one command:
#
#     packaging/build.sh            -> dist/codette-desktop-<version>/codette-desktop
#
# Sets up .venv (scripts/setup-venv.sh) if needed, installs PyInstaller (the `package`
# extra of pyproject.toml), runs PyInstaller on packaging/codette_desktop.spec with
# --noconfirm --clean, then prints the bundle's size and the build time.
# Extra arguments go to PyInstaller (e.g. --log-level WARN).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# System libraries the bundle copies in (PortAudio); quiet if already installed.
if ! bash scripts/install-system-deps.sh runtime; then
  echo "build: could not install system packages; continuing (the spec stops if PortAudio is missing)" >&2
fi
[ -x .venv/bin/python ] || bash scripts/setup-venv.sh
bash scripts/setup-venv.sh   # no-op unless pyproject.toml changed

# PyInstaller, as pinned by the `package` extra (one place for the requirement).
requirement="$(.venv/bin/python - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    extra = tomllib.load(f)["project"]["optional-dependencies"]["package"]
print(" ".join(extra))
EOF
)"
if ! .venv/bin/python -c "import PyInstaller" 2>/dev/null; then
  echo "build: installing $requirement"
  # shellcheck disable=SC2086  # the requirement list is deliberately word-split
  .venv/bin/python -m pip install --quiet $requirement
fi

version="$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
bundle="dist/codette-desktop-$version"
echo "build: PyInstaller $(.venv/bin/python -c 'import PyInstaller; print(PyInstaller.__version__)'), bundle $bundle"

pyinstaller_started=$SECONDS
.venv/bin/python -m PyInstaller --noconfirm --clean --log-level "${PYI_LOG_LEVEL:-WARN}" \
  --distpath dist --workpath build "$@" packaging/codette_desktop.spec

[ -x "$bundle/codette-desktop" ] || { echo "build: $bundle/codette-desktop is missing" >&2; exit 1; }
echo "build: done: $bundle/codette-desktop"
echo "build: bundle size: $(du -sh "$bundle" | cut -f1)"
echo "build: build time: $((SECONDS - started)) s (PyInstaller $((SECONDS - pyinstaller_started)) s)"
