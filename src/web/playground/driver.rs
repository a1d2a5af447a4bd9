//! The UI thread's side of training: the controls' [`Command`]s become [`Request`]s to the
//! training loop (in its Web Worker, `web::playground::link`), and its [`Reply`]s become signal updates and
//! redraws. Nothing here trains or evaluates a flow, so the controls answer at once whatever
//! the model's size; while a run trains, a frame (heatmap, samples, stages) is asked for at
//! ≈ 20 Hz, one at a time.

use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::link::Link;
use super::protocol::{Event, Reply, Request};
use super::state::{Page, RunStatus};
use crate::web::shell::host::now_ms;
use crate::web::shell::url::{PageConfig, View};

/// Frames are asked for at most this often while training (≈ 20 updates/s).
const DRAW_EVERY_MS: f64 = 50.0;
/// How often the UI thread looks at a training run (frame due? test hook set?).
const POLL_MS: u32 = 16;

/// What the controls ask of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Train until the step limit, a Pause or a Reset.
    Train,
    Pause,
    /// One step, then paused.
    Step,
    /// Drop the run.
    Reset,
}

impl Page {
    /// Starts the training worker; its replies come back to [`Page::on_reply`].
    pub fn open_link(self) {
        let link = Link::open(Rc::new(move |reply| self.on_reply(reply)));
        self.link.set_value(Some(link));
    }

    /// Sends `request` to the training loop.
    pub(super) fn request(&self, request: Request) {
        self.link.with_value(|link| {
            if let Some(link) = link {
                link.send(request)
            }
        });
    }

    /// The controls' one entry point into the run.
    pub fn send(self, command: Command) {
        match command {
            Command::Train => self.train(),
            Command::Pause => {
                if self.status.get_untracked() == RunStatus::Training {
                    self.status.set(RunStatus::Paused);
                    self.request(Request::Pause);
                    self.request_frame(false);
                }
            }
            Command::Step => self.step_once(),
            Command::Reset => {
                self.clear_run();
                self.preview();
            }
        }
    }

    /// Before the first step: builds the run and draws the target (its data, or the energy's
    /// box) with the untrained flow, so the page shows what it is about at once. Nothing is
    /// trained and the status stays idle.
    pub fn preview(self) {
        let cfg = self.config.get_untracked();
        let busy = self.status.get_untracked() != RunStatus::Idle || self.run_requested.get_value();
        if busy || cfg.drawing || cfg.view != View::Playground {
            return;
        }
        self.ask_for_run(true);
        self.request_frame(false);
    }

    /// Asks the loop to build the run for the current configuration, unless it was asked.
    fn ask_for_run(&self, preview: bool) {
        if self.run_requested.get_value() {
            return;
        }
        self.run_requested.set_value(true);
        let cfg = self.config.get_untracked();
        self.request(Request::Start {
            run: self.generation.get_untracked(),
            fragment: cfg.to_fragment(),
            drawn: cfg.drawing.then(|| self.drawn.get_value()),
            preview,
        });
    }

    /// Asks for a frame (with the stages, outside embed mode): `live` while training (the
    /// heatmap refreshed in part, within a frame's budget), the whole heatmap otherwise.
    pub(super) fn request_frame(&self, live: bool) {
        self.frame_pending.set_value(true);
        let stages = !self.config.with_untracked(|c| c.embed);
        self.request(Request::Frame { live, stages });
    }

    fn train(self) {
        if self.status.get_untracked() == RunStatus::Training {
            return;
        }
        self.status.set(RunStatus::Training);
        self.ask_for_run(false);
        self.request(Request::Train);
        let watch = self.watch.get_value() + 1;
        self.watch.set_value(watch);
        let run = self.generation.get_untracked();
        spawn_local(async move {
            let mut last_frame = f64::NEG_INFINITY;
            while self.status.get_untracked() == RunStatus::Training
                && self.generation.get_untracked() == run
                && self.watch.get_value() == watch
            {
                #[cfg(feature = "test-hooks")]
                self.pass_on_test_hooks();
                // Never spend more than a third of the loop's time on frames.
                let interval = DRAW_EVERY_MS.max(2.0 * self.frame_ms.get_value());
                if !self.frame_pending.get_value() && now_ms() - last_frame >= interval {
                    last_frame = now_ms();
                    self.request_frame(true);
                }
                TimeoutFuture::new(POLL_MS).await;
            }
        });
    }

    fn step_once(self) {
        if self.status.get_untracked() == RunStatus::Training {
            return;
        }
        self.ask_for_run(false);
        self.request(Request::Step);
        if self.status.get_untracked() != RunStatus::Done {
            self.status.set(RunStatus::Paused);
        }
        self.request_frame(false);
    }

    /// A reply from the training loop. Replies about an earlier run are dropped.
    pub fn on_reply(self, reply: Reply) {
        let current = self.generation.get_untracked();
        match reply {
            Reply::Ready => {}
            Reply::Crashed(message) => {
                self.run_requested.set_value(false);
                self.has_run.set_value(false);
                self.frame_pending.set_value(false);
                self.fail(format!(
                    "the training worker stopped ({message}) and its run with it; press Reset \
                     to train again (a fresh worker is ready)"
                ));
            }
            Reply::Event { run, event } if run == current => self.on_event(event),
            Reply::Frame { run, frame } if run == current => {
                self.frame_pending.set_value(false);
                if let Some(frame) = frame {
                    self.show(*frame);
                }
                if self.loading.get_value() {
                    self.loading.set_value(false);
                    self.status.set(RunStatus::Paused);
                }
            }
            Reply::Exported { run, name, bytes } if run == current => {
                if let Err(e) = crate::web::shell::files::download(&name, &bytes) {
                    self.fail(format!("export failed: {e}"));
                }
            }
            Reply::Event { .. } | Reply::Frame { .. } | Reply::Exported { .. } => {}
        }
    }

    fn on_event(self, event: Event) {
        match event {
            Event::Started { .. } => {
                self.has_run.set_value(true);
                self.link.with_value(|link| {
                    if let Some(link) = link {
                        self.trains_in.set(link.place().name());
                    }
                });
                self.apply(event);
            }
            Event::Loaded { fragment } => {
                let (loaded, _) = PageConfig::from_url_parts("", &format!("#{fragment}"));
                // The run is paused once its first frame is drawn (`on_reply`); the
                // configuration change does not start a preview run, one was asked for.
                self.loading.set_value(true);
                self.config.update(|c| {
                    c.target = loaded.target;
                    c.drawing = false;
                    c.flow = loaded.flow;
                    c.layers = loaded.layers;
                    c.hidden = loaded.hidden;
                });
                self.request_frame(false);
            }
            Event::Finished => {
                self.apply(event);
                self.request_frame(false);
            }
            other => self.apply(other),
        }
    }
}

#[cfg(feature = "test-hooks")]
impl Page {
    /// Test hooks (feature `test-hooks`), read and cleared while a run trains:
    /// `window.flowplayFailNextStep = true` makes the next step fail as a lost GPU would;
    /// `window.flowplayCrashWorker = true` makes the training worker panic.
    fn pass_on_test_hooks(self) {
        if take_test_hook("flowplayFailNextStep") {
            self.request(Request::SimulateDeviceLoss);
        }
        if take_test_hook("flowplayCrashWorker") {
            self.request(Request::SimulateCrash);
        }
    }
}

/// Whether the test hook `window.<name>` is set; clears it.
#[cfg(feature = "test-hooks")]
fn take_test_hook(name: &str) -> bool {
    let window = gloo_utils::window();
    let key = wasm_bindgen::JsValue::from_str(name);
    let set = js_sys::Reflect::get(&window, &key)
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if set {
        let _ = js_sys::Reflect::set(&window, &key, &wasm_bindgen::JsValue::FALSE);
    }
    set
}
