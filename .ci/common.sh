# Shared by .ci/run and .ci/demo: one build cache outside the clone, stage timing, and the
# toolchain check (the machine's rustup toolchain: cargo, rustfmt, clippy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/flowplay/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

stage() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "==> $name: $*" >&2
  "$@"
  echo "<== $name took $((SECONDS - t0)) s" >&2
}

need_toolchain() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  cargo --version
}
