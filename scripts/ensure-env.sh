#!/usr/bin/env bash
# Create or update the project's environment in .venv. Reinstalls only when pyproject.toml or the
# constraints changed (a hash stamp), so `make lab` and `make test` are instant the second time.
#   On a machine without an NVIDIA GPU the CPU constraints apply: torch 2.13.0 (CPU build) and the
#   committed lock of the tested set. With a GPU, pip keeps or takes a CUDA build of torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.medai-install-hash
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  constraints=()
  flavour=cuda
else
  constraints=(-c constraints/cpu.txt -c constraints/lock.txt)
  flavour=cpu
fi
# The kernelspec's settings live in medai_lib/course/kernel.py: a change there re-registers the kernel.
want=$(cat pyproject.toml constraints/*.txt medai_lib/course/kernel.py | sha256sum | cut -c1-16)-$flavour
have=$(cat "$STAMP" 2>/dev/null || true)
if [ -x "$VENV/bin/python" ] && [ "$want" = "$have" ]; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "medai: creating the environment in $VENV (first run: a few minutes)"
  "$PY" -m venv "$VENV"
fi
echo "medai: installing the project and its dependencies ($flavour)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${constraints[@]}" -e ".[dev]"
PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/medai" kernel install --quiet
echo "$want" > "$STAMP"
