//! The page's training worker, worker side: the same wasm module as the page, started in a
//! dedicated Web Worker by `web::playground::link`. [`serve`] listens for JSON [`Request`]s, feeds them to
//! a [`TrainLoop`] and posts its replies back as JSON, so the UI thread only draws.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use super::protocol::{Reply, Request};
use super::train_loop::TrainLoop;

/// Installs the message handler and tells the page the worker is listening.
pub fn serve() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let post = scope.clone();
    let emit = Rc::new(move |reply: Reply| {
        if let Err(e) = post.post_message(&reply.to_json().into()) {
            web_sys::console::error_2(&"flowplay worker: could not post a reply".into(), &e);
        }
    });
    // A panic's message goes to the page before the worker dies of it (the page only sees
    // "unreachable" otherwise).
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let payload = info.payload();
        let what = (payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        let at = (info.location())
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!("panic{at}: {what}");
        let _ = scope.post_message(&Reply::Crashed(message).to_json().into());
    }));
    let train_loop = TrainLoop::new(emit.clone());
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        let text = message.data().as_string().unwrap_or_default();
        match Request::from_json(&text) {
            Ok(request) => train_loop.push(request),
            Err(e) => web_sys::console::error_1(&e.into()),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    emit(Reply::Ready);
}
