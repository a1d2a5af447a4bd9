//! Starting a Web Worker that runs this same wasm module (the playground's training loop, the
//! Papers mode's fits): the worker loads the module from the URL the page loaded it from
//! ([`crate::web::shell::boot::module_url`]) and is handed the page's compiled
//! `WebAssembly.Module`, so nothing is downloaded or compiled twice. Its `name` tells the
//! module, once started in the worker, which loop to serve ([`crate::web::shell::host::worker_name`]).

use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

/// Starts the worker `name`; `on_message` gets each message's text, `on_error` the message of
/// an error event. The handlers live as long as the page.
pub fn spawn_module_worker(
    name: &str,
    on_message: impl FnMut(String) + 'static,
    on_error: impl FnMut(String) + 'static,
) -> Result<Worker, String> {
    let module_url = crate::web::shell::boot::module_url()
        .ok_or("the page names no module script to start a worker from")?;
    let script = format!(
        "import init from {};\n\
         self.onmessage = (e) => {{ self.onmessage = null; init({{ module_or_path: e.data }}); }};\n",
        serde_json::to_string(&module_url).map_err(|e| e.to_string())?
    );
    let parts = js_sys::Array::of1(&JsValue::from_str(&script));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let worker_options = WorkerOptions::new();
    worker_options.set_type(WorkerType::Module);
    worker_options.set_name(name);
    let worker = Worker::new_with_options(&url, &worker_options)
        .map_err(|e| format!("the browser refused the worker: {e:?}"))?;
    let _ = web_sys::Url::revoke_object_url(&url);

    let mut on_message = on_message;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |m: MessageEvent| {
        on_message(m.data().as_string().unwrap_or_default())
    });
    let mut on_error = on_error;
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
        let message = e.message();
        on_error(if message.is_empty() {
            "the worker failed".into()
        } else {
            message
        })
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_message.forget();
    on_error.forget();
    // The worker's first message: the module the page runs, already compiled.
    worker
        .post_message(&wasm_bindgen::module())
        .map_err(|e| format!("could not hand the module to the worker: {e:?}"))?;
    Ok(worker)
}
