//! The page (Leptos CSR, built by Trunk): four modes, each a wing of its own over a shared
//! shell, and the app that puts them behind one header.
//!
//! - [`shell`]: what every mode uses — the URL contract ([`shell::url`], one section per mode),
//!   the page-wide context, which build and backend run, the clock, files, canvases.
//! - [`playground`]: the 2D playground — its state, the training worker and the loop both
//!   sides run, the messages between them ([`playground::protocol`]), its views.
//! - [`images`]: the image models — gallery, samples, interpolation, latent arithmetic,
//!   anomaly detection, classification.
//! - [`inverse`]: the inverse problems — amortised posteriors drawn as the observation moves.
//! - [`papers`]: a published figure re-run live (Rezende & Mohamed's Fig. 3).
//! - `app`: the header, the mode switch and the embed view.
//!
//! A wing uses the shell and nothing of another wing; only the app sees them all
//! (`tests/layering.rs`). The URL contract and the playground's protocol and live grid are plain
//! Rust, tested natively; everything that touches the browser is `cfg(wasm32)`.

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod images;
#[cfg(target_arch = "wasm32")]
pub mod inverse;
pub mod papers;
pub mod playground;
pub mod shell;

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
/// build that runs the page), serves its requests; in the page, mounts [`app::App`] on
/// the body, unless this is the CPU build and the WebGPU build should run instead ([`boot`]).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    ensure_ctors();
    console_error_panic_hook::set_once();
    if shell::host::in_worker() {
        return match shell::host::worker_name().as_deref() {
            Some(papers::worker::WORKER_NAME) => papers::worker::serve(),
            _ => playground::worker::serve(),
        };
    }
    if shell::boot::HAS_WEBGPU {
        return leptos::mount::mount_to_body(app::App);
    }
    wasm_bindgen_futures::spawn_local(async {
        if shell::boot::wants_webgpu().await {
            match shell::boot::start_webgpu_build().await {
                Ok(()) => return,
                Err(e) => web_sys::console::warn_1(
                    &format!(
                        "flowplay: the WebGPU build did not load ({e}); the page runs on the CPU"
                    )
                    .into(),
                ),
            }
        }
        leptos::mount::mount_to_body(app::App);
    });
}
