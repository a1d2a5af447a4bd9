//! The one place that drives a training [`Session`]: commands in ([`Command`]: Train, Pause,
//! Step, Reset), events out ([`Event`]: Started, Progress, FellBack, Finished, Failed).
//!
//! A [`Runner`] owns the session, the WebGPU→CPU fallback and its checkpoint; it never touches a
//! signal, so it could move into a Web Worker behind a message channel without the views
//! changing. [`Page::send`] is the main-thread driver: it runs the runner in slices of
//! [`TRAIN_SLICE_MS`] between turns of the browser's event loop (so buttons answer while a flow
//! trains), hands each event to [`Page::apply`] and redraws at ≈ 20 Hz.

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::backend;
use super::config::PageConfig;
use super::session::Session;
use super::state::{Page, RunStatus};
use crate::model_file::{self, FlowMeta};

/// Training runs in slices of this many milliseconds between turns of the event loop.
pub const TRAIN_SLICE_MS: f64 = 25.0;
/// The views are redrawn at most this often (≈ 20 updates/s).
const DRAW_EVERY_MS: f64 = 50.0;
/// On WebGPU, a CPU copy of the model is kept every this many steps (device-loss fallback).
const CHECKPOINT_EVERY: usize = 25;

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

/// The figures after a slice of training.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub step: usize,
    pub loss: Option<f32>,
    pub val_nll: Option<f64>,
    pub nan_events: usize,
    /// Steps per second over the slice (absent when the slice took no step).
    pub steps_per_sec: Option<f64>,
}

/// What the run reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A run was built (or loaded) on `backend`, for `reason`.
    Started {
        backend: &'static str,
        reason: String,
    },
    Progress(Progress),
    /// The GPU failed; training continues on the CPU from the checkpoint at `step`.
    FellBack {
        reason: String,
        step: usize,
    },
    /// The step limit is reached.
    Finished,
    Failed(String),
}

/// A training run: its session and, on WebGPU, the CPU checkpoint to fall back to.
pub struct Runner {
    session: Session,
    on_gpu: bool,
    /// The `.flow` bytes and step of the last CPU copy of the model (WebGPU only).
    checkpoint: Option<(Vec<u8>, usize)>,
    cfg: PageConfig,
    drawn: Option<Vec<f32>>,
}

impl Runner {
    /// Builds a fresh flow for `cfg` on the backend it asks for (`drawn`: the user's points).
    pub async fn start(cfg: &PageConfig, drawn: Option<Vec<f32>>) -> Result<(Self, Event), String> {
        let chosen = backend::choose(cfg.backend).await;
        let session = Session::new(cfg, chosen.device, drawn.clone())
            .map_err(|e| format!("could not build the flow: {e}"))?;
        let runner = Self::with_session(session, chosen.name, cfg, drawn).await;
        let started = Event::Started {
            backend: chosen.name,
            reason: chosen.reason,
        };
        Ok((runner, started))
    }

    /// Wraps a session built elsewhere (an imported model) on the backend named `backend`.
    pub async fn with_session(
        session: Session,
        backend: &str,
        cfg: &PageConfig,
        drawn: Option<Vec<f32>>,
    ) -> Self {
        let mut runner = Self {
            session,
            on_gpu: backend == "webgpu",
            checkpoint: None,
            cfg: cfg.clone(),
            drawn,
        };
        if runner.on_gpu {
            runner.save_checkpoint().await;
        }
        runner
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Trains for about `budget_ms` (at least one step) and reports what happened.
    pub async fn slice(&mut self, budget_ms: f64) -> Vec<Event> {
        let t0 = now_ms();
        let step0 = self.session.trainer.step;
        let mut result = Ok(());
        loop {
            if take_simulated_device_loss() {
                result = Err("simulated device loss (window.flowplayFailNextStep)".to_string());
                break;
            }
            if let Err(e) = self.session.run(1).await {
                result = Err(e);
                break;
            }
            if now_ms() - t0 >= budget_ms || self.session.done() {
                break;
            }
        }
        let elapsed = (now_ms() - t0).max(1e-3);
        let steps = self.session.trainer.step - step0;
        let mut events = vec![Event::Progress(Progress {
            step: self.session.trainer.step,
            loss: self.session.last_loss,
            val_nll: self.session.last_val_nll,
            nan_events: self.session.trainer.history.nan_events.len(),
            steps_per_sec: (steps > 0).then(|| steps as f64 * 1000.0 / elapsed),
        })];
        match result {
            Err(e) if self.on_gpu => events.push(self.fall_back_to_cpu(e)),
            Err(e) => events.push(Event::Failed(e)),
            Ok(()) => {
                let last = self.checkpoint.as_ref().map_or(0, |(_, step)| *step);
                if self.on_gpu && self.session.trainer.step >= last + CHECKPOINT_EVERY {
                    self.save_checkpoint().await;
                }
                if self.session.done() {
                    events.push(Event::Finished);
                }
            }
        }
        events
    }

    /// Copies the model to the CPU (asynchronous readbacks) and keeps it as `.flow` bytes.
    async fn save_checkpoint(&mut self) {
        let model = self.session.model();
        let mut meta = FlowMeta::new(model.config().clone());
        meta.history = Some(self.session.trainer.history.clone());
        if let Ok(bytes) = model_file::to_bytes_async(&model, &meta).await {
            self.checkpoint = Some((bytes, self.session.trainer.step));
        }
    }

    /// The WebGPU device failed mid-training: continue on the CPU from the last checkpoint.
    fn fall_back_to_cpu(&mut self, error: String) -> Event {
        let Some((bytes, step)) = self.checkpoint.take() else {
            return Event::Failed(format!("WebGPU failed before any checkpoint: {error}"));
        };
        let cpu = burn::tensor::Device::flex();
        let restored = model_file::from_bytes(bytes, &cpu.clone().autodiff())
            .map_err(|e| e.to_string())
            .and_then(|(flow, meta)| {
                Session::with_flow(&self.cfg, cpu, self.drawn.clone(), flow, meta.history, step)
            });
        match restored {
            Ok(session) => {
                self.session = session;
                self.on_gpu = false;
                Event::FellBack {
                    reason: format!(
                        "WebGPU failed ({error}); training continues on the CPU from step {step}"
                    ),
                    step,
                }
            }
            Err(e) => Event::Failed(format!(
                "WebGPU failed ({error}) and the CPU fallback failed too: {e}"
            )),
        }
    }
}

/// Milliseconds since the page loaded.
pub fn now_ms() -> f64 {
    gloo_utils::window()
        .performance()
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Resolves after the browser had a turn (a `setTimeout(0)`).
async fn yield_now() {
    TimeoutFuture::new(0).await;
}

/// Test hook: `window.flowplayFailNextStep = true` makes the next step fail as a lost GPU would.
fn take_simulated_device_loss() -> bool {
    let window = gloo_utils::window();
    let key = wasm_bindgen::JsValue::from_str("flowplayFailNextStep");
    let set = js_sys::Reflect::get(&window, &key)
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if set {
        let _ = js_sys::Reflect::set(&window, &key, &wasm_bindgen::JsValue::FALSE);
    }
    set
}

/// How a slice of training ended, for the driver loop.
enum SliceEnd {
    Continue,
    Finished,
    Failed,
}

impl Page {
    /// The controls' one entry point into the run.
    pub fn send(self, command: Command) {
        match command {
            Command::Train => self.train(),
            Command::Pause => {
                if self.status.get_untracked() == RunStatus::Training {
                    self.status.set(RunStatus::Paused);
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
    /// trained and the status stays idle; a Train, Step or configuration change that comes
    /// first wins.
    pub fn preview(self) {
        let cfg = self.config.get_untracked();
        let busy = self.status.get_untracked() != RunStatus::Idle
            || self.runner.with_value(|r| r.is_some());
        if busy || cfg.drawing || cfg.view != super::config::View::Playground {
            return;
        }
        let generation = self.generation.get_untracked();
        spawn_local(async move {
            // A configuration that cannot be built is reported when the visitor trains it.
            let Ok((runner, started)) = Runner::start(&cfg, None).await else {
                return;
            };
            let superseded = self.generation.get_untracked() != generation
                || self.status.get_untracked() != RunStatus::Idle
                || self.runner.with_value(|r| r.is_some());
            if superseded {
                return;
            }
            self.runner.set_value(Some(runner));
            self.apply(started);
            self.draw_now().await;
        });
    }

    /// Builds a runner for the current configuration if there is none.
    async fn ensure_runner(&self) -> bool {
        if self.runner.with_value(|r| r.is_some()) {
            return true;
        }
        let cfg = self.config.get_untracked();
        let drawn = cfg.drawing.then(|| self.drawn.get_value());
        match Runner::start(&cfg, drawn).await {
            Ok((runner, started)) => {
                self.runner.set_value(Some(runner));
                self.apply(started);
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    /// One slice on the runner (taken out of the store while it trains), its events applied.
    async fn run_slice(&self, budget_ms: f64) -> SliceEnd {
        let Some(mut runner) = self.runner.try_update_value(|r| r.take()).flatten() else {
            return SliceEnd::Failed;
        };
        let events = runner.slice(budget_ms).await;
        self.runner.set_value(Some(runner));
        let mut end = SliceEnd::Continue;
        for event in events {
            match event {
                Event::Finished => end = SliceEnd::Finished,
                Event::Failed(e) => {
                    self.fail(e);
                    return SliceEnd::Failed;
                }
                other => self.apply(other),
            }
        }
        end
    }

    fn train(self) {
        if self.status.get_untracked() == RunStatus::Training {
            return;
        }
        self.status.set(RunStatus::Training);
        let generation = self.generation.get_untracked() + 1;
        self.generation.set(generation);
        spawn_local(async move {
            if !self.ensure_runner().await {
                return;
            }
            let mut last_draw = f64::NEG_INFINITY;
            while self.status.get_untracked() == RunStatus::Training
                && self.generation.get_untracked() == generation
            {
                match self.run_slice(TRAIN_SLICE_MS).await {
                    SliceEnd::Continue => {}
                    SliceEnd::Finished => {
                        self.draw_now().await;
                        self.apply(Event::Finished);
                        break;
                    }
                    SliceEnd::Failed => break,
                }
                yield_now().await;
                // Draw at ≈20 Hz, but never spend more than a third of the time drawing.
                let interval = DRAW_EVERY_MS.max(2.0 * self.draw_ms.get_untracked());
                if now_ms() - last_draw >= interval {
                    last_draw = now_ms();
                    self.draw_live().await;
                    yield_now().await;
                }
            }
            if self.status.get_untracked() == RunStatus::Paused {
                self.draw_now().await;
            }
        });
    }

    fn step_once(self) {
        if self.status.get_untracked() == RunStatus::Training {
            return;
        }
        spawn_local(async move {
            if !self.ensure_runner().await {
                return;
            }
            let end = self.run_slice(0.0).await;
            self.draw_now().await;
            match end {
                SliceEnd::Continue => self.status.set(RunStatus::Paused),
                SliceEnd::Finished => self.apply(Event::Finished),
                SliceEnd::Failed => {}
            }
        });
    }
}
