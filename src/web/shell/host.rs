//! What the module runs in, for the page and its worker alike: the clock (`performance.now()`
//! of the global scope) and whether this is the training worker.

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

/// True inside a worker (no `window`): the module's start function then serves instead of
/// mounting the page.
pub fn in_worker() -> bool {
    js_sys::global()
        .dyn_into::<DedicatedWorkerGlobalScope>()
        .is_ok()
}
