//! The Papers mode's worker side: started by the page on its own module under the name
//! [`WORKER_NAME`], it feeds each JSON [`Request`] to a [`FigureLoop`] and posts its replies
//! back as JSON, so the page only paints.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use super::figure_loop::FigureLoop;
use super::protocol::{Reply, Request};

/// The worker's name (what the module serves when it starts in it).
pub const WORKER_NAME: &str = "flowplay papers";

/// Installs the message handler and tells the page the worker is listening.
pub fn serve() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let post = scope.clone();
    let emit = Rc::new(move |reply: Reply| {
        if let Err(e) = post.post_message(&reply.to_json().into()) {
            web_sys::console::error_2(&"flowplay papers: could not post a reply".into(), &e);
        }
    });
    let figure_loop = FigureLoop::new(emit.clone());
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        match Request::from_json(&message.data().as_string().unwrap_or_default()) {
            Ok(request) => figure_loop.push(request),
            Err(e) => web_sys::console::error_1(&e.into()),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    emit(Reply::Ready);
}
