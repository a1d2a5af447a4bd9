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

# Tools for the page, installed once into a cache outside the clone (never downloaded at build
# time: Trunk runs offline with these on PATH).
export FLOWPLAY_TOOLS="${FLOWPLAY_TOOLS:-$HOME/.cache/flowplay/tools}"
export PATH="$FLOWPLAY_TOOLS/bin:$PATH"
TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')

need_page_tools() {
  rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    cargo install trunk --version "$TRUNK_VERSION" --locked --root "$FLOWPLAY_TOOLS"
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    # Without --locked: its lock file pins a webpki-roots the registry no longer has.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$FLOWPLAY_TOOLS"
  fi
  trunk --version
  wasm-bindgen --version
}

need_browser() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
  fi
  (cd tests/e2e && { [ -d node_modules/playwright-core ] || npm install --no-audit --no-fund --silent; })
  /usr/bin/chromium --version
}

build_page() {
  trunk build
  ls -la dist
}
