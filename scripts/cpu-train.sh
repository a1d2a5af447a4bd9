#!/usr/bin/env bash
# A long image training run on this machine's CPUs that spans sessions and fresh machines:
#
#   scripts/cpu-train.sh [PRESET] [train options]   # start or continue, niced, in the background
#   scripts/cpu-train.sh save [PRESET]               # copy the run's state into the repository
#
# While it runs the state lives in runs/<preset>-cpu/ (git-ignored: last.flow, state.json,
# optimizer.bpk, metrics.jsonl, train.log). `save` copies last.flow and state.json (not Adam's
# moments: 2× the weights; a resumed run restarts them) into training/<preset>-cpu/, which is
# committed, so that on a fresh clone the same first command continues from there. With no state
# anywhere, a preset that has a shipped model (glow_mnist_gpu: www/models/mnist-glow-gpu.flow)
# starts from its weights (`--init-from`); glow_fashion_mnist_gpu (the same architecture)
# starts from the MNIST run's weights, which trains faster than from scratch; any other preset
# starts from scratch. Environment: FLOWPLAY_BIN
# (default: the debug build in $CARGO_TARGET_DIR, built if missing), NICE (default 19).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/flowplay/target}"
bin="${FLOWPLAY_BIN:-$target/debug/flowplay}"

if [[ "${1:-}" == "save" ]]; then
  preset="${2:-glow_mnist_gpu}"
  run="runs/$preset-cpu" kept="training/$preset-cpu"
  [[ -f "$run/state.json" ]] || { echo "no run state in $run" >&2; exit 1; }
  mkdir -p "$kept"
  cp "$run/last.flow" "$kept/last.flow.tmp" && mv "$kept/last.flow.tmp" "$kept/last.flow"
  cp "$run/state.json" "$kept/state.json"
  [[ -f "$run/metrics.jsonl" ]] && cp "$run/metrics.jsonl" "$kept/metrics.jsonl"
  summary='import json, sys; s = json.load(open(sys.argv[1])); print("step", s["step"], "· epoch", s["epoch"], "· best validation", s["best_val_bpd"], "bits/dim")'
  echo "saved $run to $kept: $(python3 -c "$summary" "$kept/state.json")"
  exit 0
fi

preset="${1:-glow_mnist_gpu}"
shift || true
run="runs/$preset-cpu" kept="training/$preset-cpu"
[[ -x "$bin" ]] || cargo build --quiet
mkdir -p "$run"
args=(train --preset "$preset" --out "$run" --test-images 0)
if [[ -f "$run/state.json" ]]; then
  args+=(--resume)
elif [[ -f "$kept/state.json" ]]; then
  cp "$kept/last.flow" "$kept/state.json" "$run/"
  [[ -f "$kept/metrics.jsonl" ]] && cp "$kept/metrics.jsonl" "$run/"
  args+=(--resume)
elif [[ "$preset" == glow_mnist_gpu && -f www/models/mnist-glow-gpu.flow ]]; then
  args+=(--init-from www/models/mnist-glow-gpu.flow)
elif [[ "$preset" == glow_fashion_mnist_gpu && -f training/glow_mnist_gpu-cpu/last.flow ]]; then
  args+=(--init-from training/glow_mnist_gpu-cpu/last.flow)
fi
nohup nice -n "${NICE:-19}" "$bin" "${args[@]}" "$@" >>"$run/train.log" 2>&1 &
echo "training $preset in the background (pid $!): tail -f $run/train.log"
