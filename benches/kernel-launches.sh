#!/usr/bin/env bash
# Kernel launches and device reads per training step of an image preset on wgpu, counted from
# CubeCL's own log of every kernel it runs ("Executing …" lines, `[profiling] logger` in a
# cubecl.toml): two runs of `flowplay bench image-step` that differ only in their timed steps
# (2 and 6, after the first step and 2 warm-up steps); the difference of their counts ÷ 4 is
# the launches per step, free of the start-up's autotuning runs. Works on any Vulkan device,
# Mesa's software lavapipe included, so the figure can be improved without a GPU:
#
#   VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json \
#     benches/kernel-launches.sh glow_mnist_gpu --batch 8     # lavapipe: ≈ 2 min per run
#   benches/kernel-launches.sh glow_mnist_gpu                 # on a lent GPU (benches/gpu-step.sh)
#
# Prints one JSON line; with OUT set, also keeps the gzipped logs there. Needs the binary built
# with `--features wgpu` (FLOWPLAY_BIN, default $CARGO_TARGET_DIR/release/flowplay) and the
# Vulkan loader (scripts/vulkan-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-glow_mnist_gpu}
shift || true
target_dir=${CARGO_TARGET_DIR:-$HOME/.cache/flowplay/target}
bin=${FLOWPLAY_BIN:-$target_dir/release/flowplay}
[ -x "$bin" ] || { echo "no flowplay binary at $bin: cargo build --release --features wgpu" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
source scripts/vulkan-env.sh
mkdir -p runs/.cubecl
cache=$PWD/runs/.cubecl

# Runs the bench with $1 timed steps under a logging cubecl.toml; prints "<launches> <bench JSON>".
count_run() {
  local dir json launches
  dir=$(mktemp -d)
  printf '[environment]\npath = { directory = "%s" }\n[profiling]\nlogger = { level = "minimal", file = "%s" }\n' \
    "$cache" "$dir/kernels.log" >"$dir/cubecl.toml"
  json=$(cd "$dir" && "$bin" bench image-step --preset "$preset" --device wgpu --steps "$1" --warmup 2 "${@:2}" | tail -1)
  launches=$(grep -c 'Executing' "$dir/kernels.log" || true)
  [ -n "${OUT:-}" ] && mkdir -p "$OUT" && gzip -c "$dir/kernels.log" >"$OUT/kernels-$1-steps.log.gz"
  rm -rf "$dir"
  echo "$launches $json"
}

read -r k2 json2 <<<"$(count_run 2 "$@")"
read -r k6 json6 <<<"$(count_run 6 "$@")"
python3 - "$preset" "$k2" "$k6" "$json6" "$*" <<'PY'
import json, sys
preset, k2, k6, bench, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
if k6 <= k2:
    sys.exit(f"CubeCL logged {k2} kernels for 2 steps and {k6} for 6: is the logger on? (cubecl.toml)")
print(json.dumps({
    "bench": "kernel_launches", "preset": preset, "options": extra,
    "kernels_2_steps": k2, "kernels_6_steps": k6,
    "kernel_launches_per_step": (k6 - k2) / 4,
    "readbacks_per_step": bench.get("readbacks_per_step"),
    "ms_per_step": bench.get("ms_per_step"), "first_step_seconds": bench.get("first_step_seconds"),
}))
PY
