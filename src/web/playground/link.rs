//! The page's training worker, page side: a [`Link`] starts a dedicated Web Worker running
//! this same wasm module (`web::worker`), sends it [`Request`]s and hands its [`Reply`]s to the
//! page. Where no worker can start (no module script to load, a browser or a host page that
//! refuses workers, a worker that fails while starting), the link runs the same
//! [`TrainLoop`] on the UI thread instead, so the page works either way.
//!
//! The worker loads the module from the URL the page itself loaded it from
//! ([`boot::module_url`](crate::web::shell::boot::module_url)) and is handed the page's compiled
//! `WebAssembly.Module`, so nothing is downloaded or compiled twice.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use super::protocol::{Reply, Request};
use super::train_loop::TrainLoop;

/// Where replies go on the page (called on the UI thread, never from inside [`Link::send`]).
pub type OnReply = Rc<dyn Fn(Reply)>;

/// Where the page's training runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Worker,
    /// The UI thread, when no worker could start.
    Page,
}

impl Place {
    /// The `data-trains-in` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Page => "page",
        }
    }
}

enum State {
    /// The worker is loading; requests wait for its `Ready`.
    Starting {
        worker: Worker,
        waiting: Vec<Request>,
    },
    Worker(Worker),
    Local(TrainLoop),
}

/// The page's connection to its training loop.
#[derive(Clone)]
pub struct Link {
    state: Rc<RefCell<State>>,
    on_reply: OnReply,
    /// The message of the panic the worker reported just before it died.
    panic: Rc<RefCell<Option<String>>>,
}

impl Link {
    /// Starts the worker (or, failing that, the loop on the UI thread).
    pub fn open(on_reply: OnReply) -> Self {
        let state = Rc::new(RefCell::new(State::Local(local_loop(&on_reply))));
        let link = Self {
            state,
            on_reply,
            panic: Rc::default(),
        };
        match link.spawn_worker() {
            Ok(worker) => {
                *link.state.borrow_mut() = State::Starting {
                    worker,
                    waiting: Vec::new(),
                }
            }
            Err(why) => warn(&format!(
                "flowplay: training runs on the page's own thread ({why})"
            )),
        }
        link
    }

    pub fn place(&self) -> Place {
        match &*self.state.borrow() {
            State::Local(_) => Place::Page,
            _ => Place::Worker,
        }
    }

    pub fn send(&self, request: Request) {
        match &mut *self.state.borrow_mut() {
            State::Starting { waiting, .. } => waiting.push(request),
            State::Worker(worker) => {
                if let Err(e) = worker.post_message(&request.to_json().into()) {
                    warn(&format!("flowplay: could not message the worker: {e:?}"));
                }
            }
            State::Local(train_loop) => train_loop.push(request),
        }
    }

    /// A reply from the worker: `Ready` releases the waiting requests, the rest go to the page.
    fn on_message(&self, text: &str) {
        let reply = match Reply::from_json(text) {
            Ok(reply) => reply,
            Err(e) => return warn(&e),
        };
        if let Reply::Crashed(message) = reply {
            // Told to the page when the worker's error event follows.
            *self.panic.borrow_mut() = Some(message);
            return;
        }
        if reply == Reply::Ready {
            let state = &mut *self.state.borrow_mut();
            if let State::Starting { worker, waiting } = state {
                let worker = worker.clone();
                for request in waiting.drain(..) {
                    let _ = worker.post_message(&request.to_json().into());
                }
                *state = State::Worker(worker);
            }
        }
        (self.on_reply)(reply);
    }

    /// The worker failed. While it starts, the requests it was to handle go to a loop on the
    /// UI thread (a worker that cannot start will not start the next time either); once it
    /// ran, its run is lost: the page is told, and a fresh worker takes the next run.
    fn on_error(&self, error: String) {
        let message = self.panic.borrow_mut().take().unwrap_or(error);
        let local = local_loop(&self.on_reply);
        let previous =
            std::mem::replace(&mut *self.state.borrow_mut(), State::Local(local.clone()));
        match previous {
            State::Starting { worker, waiting } => {
                worker.terminate();
                warn(&format!(
                    "flowplay: the training worker did not start ({message}); training runs on the page's own thread"
                ));
                for request in waiting {
                    local.push(request);
                }
            }
            State::Worker(worker) => {
                worker.terminate();
                match self.spawn_worker() {
                    Ok(fresh) => {
                        *self.state.borrow_mut() = State::Starting {
                            worker: fresh,
                            waiting: Vec::new(),
                        }
                    }
                    Err(why) => warn(&format!(
                        "flowplay: no fresh training worker ({why}); training runs on the page's own thread"
                    )),
                }
                (self.on_reply)(Reply::Crashed(message));
            }
            State::Local(_) => {}
        }
    }

    fn spawn_worker(&self) -> Result<Worker, String> {
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
        worker_options.set_name("flowplay training");
        let worker = Worker::new_with_options(&url, &worker_options)
            .map_err(|e| format!("the browser refused the worker: {e:?}"))?;
        let _ = web_sys::Url::revoke_object_url(&url);

        let me = self.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |m: MessageEvent| {
            me.on_message(&m.data().as_string().unwrap_or_default())
        });
        let me = self.clone();
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            let message = e.message();
            me.on_error(if message.is_empty() {
                "the worker failed".into()
            } else {
                message
            })
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // The handlers live as long as the page.
        on_message.forget();
        on_error.forget();
        // The worker's first message: the module the page runs, already compiled.
        worker
            .post_message(&wasm_bindgen::module())
            .map_err(|e| format!("could not hand the module to the worker: {e:?}"))?;
        Ok(worker)
    }
}

/// The loop on the UI thread. Its replies are delivered from a task of their own, never from
/// inside the call that sent the request.
fn local_loop(on_reply: &OnReply) -> TrainLoop {
    let on_reply = on_reply.clone();
    TrainLoop::new(Rc::new(move |reply| {
        let on_reply = on_reply.clone();
        spawn_local(async move { on_reply(reply) });
    }))
}

fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}
