//! The playground page (Leptos CSR, built by Trunk). The URL contract ([`config`]) and the
//! messages between the page and its training worker ([`protocol`]) are plain Rust and tested
//! natively; everything that touches the browser is `cfg(wasm32)`.

pub mod config;
pub mod live_grid;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod backend;
#[cfg(target_arch = "wasm32")]
pub mod boot;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod draw;
#[cfg(target_arch = "wasm32")]
pub mod driver;
#[cfg(target_arch = "wasm32")]
pub mod files;
#[cfg(target_arch = "wasm32")]
pub mod host;
#[cfg(target_arch = "wasm32")]
pub mod image_views;
#[cfg(target_arch = "wasm32")]
pub mod inverse_view;
#[cfg(target_arch = "wasm32")]
pub mod link;
#[cfg(target_arch = "wasm32")]
pub mod runner;
#[cfg(target_arch = "wasm32")]
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod state;
#[cfg(target_arch = "wasm32")]
pub mod train_loop;
#[cfg(target_arch = "wasm32")]
pub mod worker;

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Runs the linker's constructors once. Referencing `__wasm_call_ctors` from an exported
/// function stops wasm-ld from wrapping every export with it (cubecl registers hundreds of
/// constructors; re-running them on each JS→wasm call made WebGPU training 4.3× slower), and
/// tests in the browser need them run before Burn's IR is used.
#[cfg(target_arch = "wasm32")]
pub fn ensure_ctors() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    if !DONE.swap(true, Ordering::SeqCst) {
        unsafe { __wasm_call_ctors() }
    }
}

/// The module's entry point: in the page's training worker (started by [`link`] on the
/// build that runs the page), serves its requests; in the page, mounts [`components::App`] on
/// the body, unless this is the CPU build and the WebGPU build should run instead ([`boot`]).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    ensure_ctors();
    console_error_panic_hook::set_once();
    if host::in_worker() {
        return worker::serve();
    }
    if boot::HAS_WEBGPU {
        return leptos::mount::mount_to_body(components::App);
    }
    wasm_bindgen_futures::spawn_local(async {
        if boot::wants_webgpu().await {
            match boot::start_webgpu_build().await {
                Ok(()) => return,
                Err(e) => web_sys::console::warn_1(
                    &format!(
                        "flowplay: the WebGPU build did not load ({e}); the page runs on the CPU"
                    )
                    .into(),
                ),
            }
        }
        leptos::mount::mount_to_body(components::App);
    });
}
