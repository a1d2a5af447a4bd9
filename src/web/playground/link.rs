//! The page's training worker, page side: a [`Link`] starts a dedicated Web Worker running
//! this same wasm module (`web::worker`), sends it [`Request`]s and hands its [`Reply`]s to the
//! page. Where no worker can start (no module script to load, a browser or a host page that
//! refuses workers, a worker that fails while starting), the link runs the same
//! [`TrainLoop`] on the UI thread instead, so the page works either way.
//!
//! The worker is started by [`crate::web::shell::worker::spawn_module_worker`] (the same module,
//! handed over already compiled).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;
use web_sys::Worker;

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
        let (me, me_too) = (self.clone(), self.clone());
        crate::web::shell::worker::spawn_module_worker(
            WORKER_NAME,
            move |text| me.on_message(&text),
            move |error| me_too.on_error(error),
        )
    }
}

/// The playground's worker's name (what the module serves when it starts in it).
pub const WORKER_NAME: &str = "flowplay training";

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
