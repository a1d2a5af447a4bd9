#!/usr/bin/env bash
# Trains an image preset on a GPU through Burn's wgpu backend on Vulkan, then evaluates the best
# model on the test set and draws sample grids — one command for a (possibly offline) NVIDIA
# machine:
#
#   scripts/gpu-train.sh glow_mnist_gpu --max-minutes 7
#
# Everything after the preset goes to `flowplay train` (e.g. --lease-minutes, --epochs). When
# OUT_DIR already holds a run (state.json), the run is continued with --resume: the same command
# on every lease (docs/gpu-leases.md). Settings a resumed run cannot change are refused by name.
# Environment:
#   FLOWPLAY_BIN  the flowplay binary (default: the release build in $CARGO_TARGET_DIR or
#                 ./target; built with `cargo build --release --features wgpu` if missing)
#   OUT_DIR       run directory (default runs/<preset>-gpu)
#   DATA_DIR      directory with the data set's IDX files, raw or .gz (default: the
#                 `flowplay data fetch` cache)
#   DEVICE        wgpu (first discrete GPU, else the default adapter) or wgpu:N (default wgpu)
#   TEMPS         sampling temperatures of the final grids (default "0.7 0.8 0.9 1.0"; each
#                 grid is a fresh process, which compiles its shaders again on wgpu)
# Leaves in OUT_DIR: model.flow (best validation), last.flow + state.json + optimizer.bpk (for
# --resume), metrics.jsonl, samples-epochN.png, train.log (steps/s, bits/dim per epoch, wall
# time), eval.json (`flowplay eval` on the whole test set), samples-t{0.7,0.8,0.9,1.0}.png and,
# where nvidia-smi exists, gpu-usage.csv; for a *classifier* preset also classify.json
# (`flowplay eval --task classify`) and sample grids with a row of 8 images per class.
#
# Vulkan: the machine needs the Vulkan loader (Debian's libvulkan1) and the GPU's ICD (NVIDIA's
# driver ships nvidia_icd.json). A machine without the loader can be given it as .deb files in
# ./.gl (apt-get download libvulkan1 …): they are unpacked into / here. CUDA is not an option
# offline: Burn's cuda backend downloads an LLVM bundle at build time.
set -euo pipefail
cd "$(dirname "$0")/.."

preset=${1:?usage: scripts/gpu-train.sh PRESET [flowplay train options]}
shift
out=${OUT_DIR:-runs/$preset-gpu}
device=${DEVICE:-wgpu}
target_dir=${CARGO_TARGET_DIR:-$HOME/.cache/flowplay/target}
bin=${FLOWPLAY_BIN:-}
if [ -z "$bin" ]; then
  for b in "$target_dir/release/flowplay" target/release/flowplay; do
    [ -x "$b" ] && { bin=$b; break; }
  done
fi
if [ -z "$bin" ]; then
  echo "building the release binary with the wgpu backend (cargo build --release --features wgpu)" >&2
  cargo build --release --features wgpu
  bin=$target_dir/release/flowplay
fi

# The Vulkan loader and NVIDIA's ICD.
source scripts/vulkan-env.sh

mkdir -p "$out"
data_args=()
[ -n "${DATA_DIR:-}" ] && data_args=(--data-dir "$DATA_DIR")
case $preset in
  *fashion_mnist*) eval_data=fashion-mnist-test ;;
  *cifar10*) eval_data=cifar10-test ;;
  *imagenet32*) eval_data=imagenet32-test ;;
  *) eval_data=mnist-test ;;
esac

monitor=""
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 15 \
    >"$out/gpu-usage.csv" 2>/dev/null &
  monitor=$!
fi
trap '[ -n "$monitor" ] && kill "$monitor" 2>/dev/null || true' EXIT

start=$SECONDS
echo "==> train $preset on $device ($bin)" >&2
resume=()
if [ -f "$out/state.json" ]; then
  echo "$out/state.json exists: continuing that run (--resume)" >&2
  resume=(--resume)
fi
"$bin" train --preset "$preset" "${resume[@]}" --device "$device" --out "$out" "${data_args[@]}" "$@" \
  2>&1 | tee -a "$out/train.log"
echo "train took $((SECONDS - start)) s" | tee -a "$out/train.log" >&2

echo "==> eval on $eval_data" >&2
"$bin" eval --model "$out/model.flow" --data "$eval_data" --device "$device" "${data_args[@]}" \
  | tee "$out/eval.json"
n_samples=64
case $preset in
  *classifier*)
    # A generative classifier: Bayes' rule over its classes on the whole test set, and sample
    # grids with a row of 8 per class.
    echo "==> classify $eval_data" >&2
    "$bin" eval --task classify --model "$out/model.flow" --data "$eval_data" --device "$device" \
      "${data_args[@]}" | tee "$out/classify.json"
    n_samples=80
    ;;
  *hybrid*)
    echo "==> classify $eval_data (hybrid: the label head)" >&2
    "$bin" eval --task classify --model "$out/model.flow" --data "$eval_data" --device "$device" \
      "${data_args[@]}" | tee "$out/classify.json"
    ;;
esac
for t in ${TEMPS:-0.7 0.8 0.9 1.0}; do
  "$bin" sample --model "$out/model.flow" -n "$n_samples" --temperature "$t" --seed 1 \
    --device "$device" --out "$out/samples-t$t.png"
done
echo "done in $((SECONDS - start)) s: $out" >&2
