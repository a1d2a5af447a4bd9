//! What the module runs in, for the page and its worker alike: the clock (`performance.now()`
//! of the global scope) and whether this is a worker, and which.

use wasm_bindgen::JsCast;
use web_sys::DedicatedWorkerGlobalScope;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `performance.now()` of the global scope (the window's or the worker's).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Milliseconds since the page (or the worker) started.
pub fn now_ms() -> f64 {
    performance_now()
}

/// The name the page gave this worker ([`super::worker::spawn_module_worker`]), inside one.
pub fn worker_name() -> Option<String> {
    js_sys::global()
        .dyn_into::<DedicatedWorkerGlobalScope>()
        .ok()
        .map(|w| w.name())
}

/// True inside a worker (no `window`): the module's start function then serves instead of
/// mounting the page.
pub fn in_worker() -> bool {
    js_sys::global()
        .dyn_into::<DedicatedWorkerGlobalScope>()
        .is_ok()
}
