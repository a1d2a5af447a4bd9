//! The playground's state: one [`Page`] context of signals that its views read (the shell's
//! configuration and notices among them), the run's [`RunStatus`], and [`Page::apply`], which
//! turns the training loop's events into signal updates.

use leptos::prelude::*;

use super::link::Link;
use super::protocol::{Event, StageView};
use crate::web::shell::context::Shell;
use crate::web::shell::url::PageConfig;

/// Where the page's training run stands (`data-state` of `#flow-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Idle,
    Training,
    Paused,
    Done,
    Error,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Training => "training",
            Self::Paused => "paused",
            Self::Done => "done",
            Self::Error => "error",
        }
    }
}

/// Everything the components share (all fields are `Copy` handles).
#[derive(Clone, Copy)]
pub struct Page {
    pub config: RwSignal<PageConfig>,
    pub notices: RwSignal<Vec<String>>,
    pub status: RwSignal<RunStatus>,
    pub backend: RwSignal<String>,
    pub backend_reason: RwSignal<String>,
    /// Training steps taken so far.
    pub steps_done: RwSignal<usize>,
    pub loss: RwSignal<Option<f32>>,
    pub val_nll: RwSignal<Option<f64>>,
    pub nan_events: RwSignal<usize>,
    pub inversion_error: RwSignal<Option<f32>>,
    /// Largest per-layer |log det| on the samples (a coupling's largest |log-scale|).
    pub max_log_scale: RwSignal<Option<f32>>,
    pub steps_per_sec: RwSignal<f64>,
    /// How long the last redraw took (ms): the frame's computation in the training loop plus
    /// drawing it.
    pub draw_ms: RwSignal<f64>,
    /// The training loop's time for the last frame (ms); frames are asked for less often when
    /// they are slow.
    pub(super) frame_ms: StoredValue<f64>,
    /// Where training runs: `worker` or `page` (`data-trains-in`).
    pub trains_in: RwSignal<&'static str>,
    /// The last frame evaluated one heatmap cell in `grid_stride²` (1: all of them; while a
    /// large model trains, a part per frame: `web::playground::live_grid`).
    pub grid_stride: RwSignal<usize>,
    pub error: RwSignal<Option<String>>,
    pub share: RwSignal<Option<String>>,
    /// The connection to the training loop (opened by the app).
    pub(super) link: StoredValue<Option<Link>, LocalStorage>,
    /// The current run was asked for (a Start or Load request went out).
    pub(super) run_requested: StoredValue<bool>,
    /// The current run exists (the loop reported it started).
    pub(super) has_run: StoredValue<bool>,
    /// A loaded file's run waits for its first frame before it shows as paused.
    pub(super) loading: StoredValue<bool>,
    /// A frame was asked for and has not come back yet.
    pub(super) frame_pending: StoredValue<bool>,
    /// Bumped by each Train, so the loop watching an earlier one stops.
    pub(super) watch: StoredValue<u64>,
    /// Points drawn for `target=draw`, `[x, y]` pairs in data coordinates.
    pub(super) drawn: StoredValue<Vec<f32>, LocalStorage>,
    pub drawn_count: RwSignal<usize>,
    /// The layer-by-layer view's data and the stage shown.
    pub(super) stages: StoredValue<Vec<StageView>, LocalStorage>,
    pub stage_count: RwSignal<usize>,
    pub layer: RwSignal<usize>,
    /// The current run's number (bumped by every Reset or configuration change): replies
    /// about other runs are dropped.
    pub(super) generation: RwSignal<u64>,
}

impl Page {
    /// The playground's state over the page's shared configuration and notices.
    pub fn new(shell: Shell) -> Self {
        Self {
            config: shell.config,
            notices: shell.notices,
            status: RwSignal::new(RunStatus::Idle),
            backend: RwSignal::new(String::new()),
            backend_reason: RwSignal::new(String::new()),
            steps_done: RwSignal::new(0),
            loss: RwSignal::new(None),
            val_nll: RwSignal::new(None),
            nan_events: RwSignal::new(0),
            inversion_error: RwSignal::new(None),
            max_log_scale: RwSignal::new(None),
            steps_per_sec: RwSignal::new(0.0),
            draw_ms: RwSignal::new(0.0),
            frame_ms: StoredValue::new(0.0),
            trains_in: RwSignal::new(""),
            grid_stride: RwSignal::new(1),
            error: RwSignal::new(None),
            share: RwSignal::new(None),
            link: StoredValue::new_local(None),
            run_requested: StoredValue::new(false),
            has_run: StoredValue::new(false),
            loading: StoredValue::new(false),
            frame_pending: StoredValue::new(false),
            watch: StoredValue::new(0),
            drawn: StoredValue::new_local(Vec::new()),
            drawn_count: RwSignal::new(0),
            stages: StoredValue::new_local(Vec::new()),
            stage_count: RwSignal::new(0),
            // Past the end: shows the last stage (the data side) until the user scrubs.
            layer: RwSignal::new(usize::MAX),
            generation: RwSignal::new(0),
        }
    }

    /// Shows `message` as the page's error and stops the run.
    pub fn fail(&self, message: String) {
        web_sys::console::error_1(&message.as_str().into());
        self.error.set(Some(message));
        self.status.set(RunStatus::Error);
    }

    /// Reflects one event of the training loop in the signals.
    pub fn apply(&self, event: Event) {
        match event {
            Event::Started { backend, reason } => {
                self.backend.set(backend);
                self.backend_reason.set(reason);
            }
            Event::Progress(p) => {
                if let Some(rate) = p.steps_per_sec {
                    self.steps_per_sec.set(rate);
                }
                self.steps_done.set(p.step);
                self.loss.set(p.loss);
                self.val_nll.set(p.val_nll);
                self.nan_events.set(p.nan_events);
            }
            Event::FellBack { reason, step } => {
                self.backend.set("cpu".to_string());
                self.backend_reason.set(reason);
                self.steps_done.set(step);
            }
            Event::Finished => self.status.set(RunStatus::Done),
            Event::Failed(message) => self.fail(message),
            // Handled by the driver (it changes the configuration).
            Event::Loaded { .. } => {}
        }
    }

    /// Clears the run and its figures (the configuration and the drawn points stay).
    pub fn clear_run(&self) {
        self.generation.update(|g| *g += 1);
        self.request(crate::web::playground::protocol::Request::Reset);
        self.run_requested.set_value(false);
        self.has_run.set_value(false);
        self.frame_pending.set_value(false);
        self.loading.set_value(false);
        self.status.set(RunStatus::Idle);
        self.steps_done.set(0);
        self.loss.set(None);
        self.val_nll.set(None);
        self.nan_events.set(0);
        self.inversion_error.set(None);
        self.max_log_scale.set(None);
        self.error.set(None);
    }

    /// Applies a configuration change: the old run no longer matches it. (The address bar
    /// follows the configuration by an effect, see
    /// [`crate::web::shell::context::sync_url_with_config`].)
    pub fn configure(self, f: impl FnOnce(&mut PageConfig)) {
        self.config.update(f);
        self.clear_run();
    }
}
