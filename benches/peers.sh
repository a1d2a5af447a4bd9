#!/usr/bin/env bash
# flowplay's training and grid speed beside its twins in JAX, flowjax and PyTorch, in one run on
# the same machine, as a table of ratios (flowplay ÷ peer). Twins whose library is missing are
# skipped with a line saying so. Usage:
#   benches/peers.sh [path/to/flowplay] [--steps N]
# PYTHON picks the interpreter (default python3): e.g. a venv with
#   pip install torch jax flowjax
# The figures are printed, never asserted (see docs/performance.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-flowplay}"
shift || true
steps=200
if [[ "${1:-}" == "--steps" ]]; then steps="$2"; fi
py="${PYTHON:-python3}"
results=()

run() { # name, command...
  local name="$1"; shift
  local line
  if line="$("$@" 2>/dev/null | tail -n 1)" && [[ "$line" == \{* ]]; then
    results+=("$name $line")
    echo "$name: $line"
  else
    echo "$name: skipped (not installed or failed: $*)"
  fi
}

run flowplay "$bin" bench --steps "$steps"
run jax "$py" "$here/jax_realnvp.py" --steps "$steps"
run flowjax "$py" "$here/flowjax_realnvp.py" --steps "$steps"
run pytorch "$py" "$here/pytorch_realnvp.py" --steps "$steps"
run "pytorch-1-thread" "$py" "$here/pytorch_realnvp.py" --steps "$steps" --threads 1

printf '%s\n' "${results[@]}" | "$py" "$here/ratios.py"
