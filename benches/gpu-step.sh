#!/usr/bin/env bash
# One call on a lent GPU machine: flowplay's training step of an image preset beside its PyTorch
# twin (benches/pytorch_glow.py: same layers, same batch), on the same GPU, plus where
# flowplay's time goes — kernel launches and device reads per step, and the first step's cost
# (shader compilation and autotuning) with and without the persisted CubeCL cache.
#
#   benches/gpu-step.sh [PRESET]          # default glow_mnist_gpu; results under $OUT (or ./out)
#
# Needs: the release binary built with `--features wgpu` (FLOWPLAY_BIN, default
# $CARGO_TARGET_DIR/release/flowplay or target/release/flowplay), the Vulkan loader (see
# scripts/vulkan-env.sh), and PyTorch with CUDA for the twin (skipped, and said so, without it).
# Writes $OUT/gpu-step.jsonl (one JSON line per measurement), $OUT/kernels-*.log.gz (CubeCL's
# log of every kernel run) and prints a summary. STEPS (default 30) sets the timed steps.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-glow_mnist_gpu}
out=${OUT:-out}
steps=${STEPS:-30}
mkdir -p "$out"
out=$(cd "$out" && pwd)
target_dir=${CARGO_TARGET_DIR:-$HOME/.cache/flowplay/target}
bin=${FLOWPLAY_BIN:-}
for b in "$target_dir/release/flowplay" target/release/flowplay; do
  [ -z "$bin" ] && [ -x "$b" ] && bin=$(cd "$(dirname "$b")" && pwd)/flowplay
done
[ -n "$bin" ] || { echo "no flowplay binary: cargo build --release --features wgpu" >&2; exit 1; }
source scripts/vulkan-env.sh
results=$out/gpu-step.jsonl
: >"$results"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >&2 || true

# 1. flowplay: a cold start (empty CubeCL cache), then a warm one (the cache the first filled).
rm -rf runs/.cubecl
for start in cold warm; do
  echo "==> flowplay $preset on wgpu ($start CubeCL cache)" >&2
  "$bin" bench image-step --preset "$preset" --device wgpu --steps "$steps" --warmup 5 \
    | sed "s/^{/{\"cache\":\"$start\",/" | tee -a "$results"
done

# 2. Kernel launches and reads per step, from CubeCL's log of every kernel it runs
#    (benches/kernel-launches.sh: two runs that differ only in their timed steps).
echo "==> kernel launches per step" >&2
FLOWPLAY_BIN=$bin OUT=$out benches/kernel-launches.sh "$preset" | tee -a "$results"

# 3. The PyTorch twin, eager and compiled, on the same GPU.
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  for mode in "" --compile; do
    echo "==> PyTorch twin ${mode:-eager}" >&2
    python3 benches/pytorch_glow.py --device cuda --steps "$steps" $mode | tee -a "$results" \
      || echo "{\"bench\":\"pytorch_glow\",\"mode\":\"${mode:-eager}\",\"failed\":true}" | tee -a "$results"
  done
else
  echo "no PyTorch with CUDA here: the twin is skipped" >&2
fi

# 4. Summary: flowplay's rate ÷ PyTorch eager's.
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fp = [r for r in rows if r.get("bench", "").startswith("flowplay_") and r.get("cache") == "warm"]
pt = [r for r in rows if r.get("bench") == "pytorch_glow_mnist_gpu" and r.get("mode") == "eager"]
if fp and pt:
    print(f"flowplay {fp[0]['ms_per_step']:.1f} ms/step, PyTorch eager {pt[0]['ms_per_step']:.1f} ms/step: "
          f"flowplay at {pt[0]['ms_per_step'] / fp[0]['ms_per_step']:.2f}x PyTorch eager's rate")
PY
