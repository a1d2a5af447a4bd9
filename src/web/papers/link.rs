//! The Papers mode's connection to its fitting loop: a Web Worker on the page's own module
//! ([`super::worker`]) when one starts, else the same [`FigureLoop`] on the page's thread.
//! Requests sent while the worker starts wait for its `Ready`.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::Worker;

use super::figure_loop::FigureLoop;
use super::protocol::{Reply, Request};

/// Where replies go on the page.
pub type OnReply = Rc<dyn Fn(Reply)>;

enum State {
    Starting {
        worker: Worker,
        waiting: Vec<Request>,
    },
    Worker(Worker),
    Local(FigureLoop),
}

#[derive(Clone)]
pub struct PapersLink {
    state: Rc<RefCell<State>>,
    on_reply: OnReply,
    /// The latest request, run again on the page's thread if the worker dies with it.
    last: Rc<RefCell<Option<Request>>>,
}

impl PapersLink {
    /// Starts the worker (or, failing that, the loop on the page's thread).
    pub fn open(on_reply: OnReply) -> Self {
        let link = Self {
            state: Rc::new(RefCell::new(State::Local(local_loop(&on_reply)))),
            on_reply,
            last: Rc::default(),
        };
        let (me, me_too) = (link.clone(), link.clone());
        match crate::web::shell::worker::spawn_module_worker(
            super::worker::WORKER_NAME,
            move |text| me.on_message(&text),
            move |error| me_too.on_error(error),
        ) {
            Ok(worker) => {
                *link.state.borrow_mut() = State::Starting {
                    worker,
                    waiting: Vec::new(),
                }
            }
            Err(why) => warn(&format!(
                "flowplay: the figure trains on the page's thread ({why})"
            )),
        }
        link
    }

    /// `"worker"` or `"page"` (the status's `data-trains-in`).
    pub fn place(&self) -> &'static str {
        match &*self.state.borrow() {
            State::Local(_) => "page",
            _ => "worker",
        }
    }

    pub fn send(&self, request: Request) {
        *self.last.borrow_mut() = Some(request.clone());
        match &mut *self.state.borrow_mut() {
            State::Starting { waiting, .. } => waiting.push(request),
            State::Worker(worker) => {
                if let Err(e) = worker.post_message(&request.to_json().into()) {
                    warn(&format!(
                        "flowplay: could not message the papers worker: {e:?}"
                    ));
                }
            }
            State::Local(figure_loop) => figure_loop.push(request),
        }
    }

    fn on_message(&self, text: &str) {
        let reply = match Reply::from_json(text) {
            Ok(r) => r,
            Err(e) => return warn(&e),
        };
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

    /// The worker failed: the latest figure, and what comes next, trains on the page's thread.
    fn on_error(&self, error: String) {
        let local = local_loop(&self.on_reply);
        let previous =
            std::mem::replace(&mut *self.state.borrow_mut(), State::Local(local.clone()));
        if let State::Starting { worker, .. } | State::Worker(worker) = previous {
            worker.terminate();
        }
        warn(&format!(
            "flowplay: the papers worker failed ({error}); the figure trains on the page's thread"
        ));
        if let Some(request) = self.last.borrow().clone() {
            local.push(request);
        }
    }
}

/// The loop on the page's thread; its replies are delivered from tasks of their own.
fn local_loop(on_reply: &OnReply) -> FigureLoop {
    let on_reply = on_reply.clone();
    FigureLoop::new(Rc::new(move |reply| {
        let on_reply = on_reply.clone();
        wasm_bindgen_futures::spawn_local(async move { on_reply(reply) });
    }))
}

fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}
