//! The playground page (Leptos CSR, built by Trunk). The URL contract ([`config`]) and the
//! messages between the page and its training worker ([`protocol`]) are plain Rust and tested
//! natively; everything that touches the browser is `cfg(wasm32)`.

pub mod config;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod backend;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod draw;
#[cfg(target_arch = "wasm32")]
pub mod driver;
#[cfg(target_arch = "wasm32")]
pub mod files;
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

/// The module's entry point: in the page, mounts [`components::App`] on the body; in the
/// page's training worker (the same module, started by [`link`]), serves its requests.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    ensure_ctors();
    console_error_panic_hook::set_once();
    if worker::in_worker() {
        worker::serve();
    } else {
        leptos::mount::mount_to_body(components::App);
    }
}
