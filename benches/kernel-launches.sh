#!/usr/bin/env bash
# Kernel launches and device reads per training step of an image preset on wgpu, counted from
# CubeCL's own log of every kernel it runs ("Executing …" lines, `[profiling] logger` in a
# cubecl.toml): two runs of `flowplay bench image-step` that differ only in their timed steps
# (2 and 6, after the first step and 2 warm-up steps, both on a cache a first run filled); the
# difference of their counts ÷ 4 is the launches per step, with a per-kernel breakdown.
# Works on any Vulkan device, Mesa's software lavapipe included, so the figure can be improved
# without a GPU:
#
#   VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json \
#     benches/kernel-launches.sh glow_mnist_small --batch 8   # lavapipe: ≈ 3 min, warm cache
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A cubecl.toml in $1 that keeps CubeCL's cache in $cache and, given $2, logs every kernel there.
write_config() {
  printf '[environment]\npath = { directory = "%s" }\n' "$cache" >"$1/cubecl.toml"
  [ -z "${2:-}" ] || printf '[profiling]\nlogger = { level = "minimal", file = "%s" }\n' "$2" >>"$1/cubecl.toml"
}

# Runs the bench with $1 timed steps under a logging cubecl.toml; leaves its log in
# $work/kernels-$1.log and its JSON line in $work/bench-$1.json.
count_run() {
  local dir=$work/run-$1
  mkdir -p "$dir"
  write_config "$dir" "$work/kernels-$1.log"
  (cd "$dir" && "$bin" bench image-step --preset "$preset" --device wgpu --steps "$1" --warmup 2 "${@:2}") |
    tail -1 >"$work/bench-$1.json"
  if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    gzip -c "$work/kernels-$1.log" >"$OUT/kernels-$1-steps.log.gz"
  fi
}

# A first, unlogged run fills the persisted cache (autotune results, compiled kernels), so the
# two counted runs start alike and neither counts autotuning's candidate runs.
echo "priming CubeCL's cache in $cache" >&2
write_config "$work"
(cd "$work" && "$bin" bench image-step --preset "$preset" --device wgpu --steps 1 --warmup 1 "$@" >/dev/null)
count_run 2 "$@"
count_run 6 "$@"
python3 - "$preset" "$work" "$*" <<'PY'
import collections, json, re, sys
preset, work, extra = sys.argv[1:4]
# CubeCL's hardware calibration (launch overhead, compute and memory throughput) runs at a
# process's start for a varying number of rounds and is not part of a step: left out.
calibration = ("LaunchOverhead", "ComputeDirectThroughput", "MemoryDirectThroughput")

def kernels(steps):
    """Kernel launches by family (the name without its hash suffixes), calibration left out."""
    counts = collections.Counter()
    for line in open(f"{work}/kernels-{steps}.log", errors="replace"):
        if "Executing" not in line:
            continue
        name = re.sub(r"_[0-9a-f]{6,}", "", line.split("Executing", 1)[1].strip())
        if not name.startswith(calibration):
            counts[name[:48]] += 1
    return counts

k2, k6 = kernels(2), kernels(6)
n2, n6 = sum(k2.values()), sum(k6.values())
if n6 <= n2:
    sys.exit(f"CubeCL logged {n2} kernels for 2 steps and {n6} for 6: is the logger on? (cubecl.toml)")
per_family = {name: (k6[name] - k2[name]) / 4 for name in k6}
top = sorted(((v, k) for k, v in per_family.items() if v > 0), reverse=True)[:15]
bench = json.load(open(f"{work}/bench-6.json"))
print(json.dumps({
    "bench": "kernel_launches", "preset": preset, "options": extra,
    "kernels_2_steps": n2, "kernels_6_steps": n6,
    "kernel_launches_per_step": (n6 - n2) / 4,
    "readbacks_per_step": bench.get("readbacks_per_step"),
    "ms_per_step": bench.get("ms_per_step"),
    "first_step_seconds": bench.get("first_step_seconds"),
    "per_step_by_kernel": {k: v for v, k in top},
}))
PY
