//! The page's components. State lives in one [`Page`] context (signals + the live session);
//! components read it, and the training loop runs in short chunks that yield to the browser's
//! event loop, so buttons answer while a flow trains.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::backend;
use super::config::{BackendPref, PageConfig};
use super::draw;
use super::session::{Session, StageView};
use crate::flows::FlowKind;
use crate::model_file::{self, FlowMeta};
use crate::targets::Target;

/// `data-state` of `#flow-status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Idle,
    Training,
    Paused,
    Done,
    Error,
}

impl RunState {
    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Training => "training",
            Self::Paused => "paused",
            Self::Done => "done",
            Self::Error => "error",
        }
    }
}

/// Training runs in slices of this many milliseconds between turns of the event loop.
const TRAIN_SLICE_MS: f64 = 25.0;
/// The views are redrawn at most this often (≈ 20 updates/s).
const DRAW_EVERY_MS: f64 = 50.0;

/// On WebGPU, a CPU copy of the model is kept every this many steps (device-loss fallback).
const CHECKPOINT_EVERY: usize = 25;

/// Test hook: `window.flowplayFailNextStep = true` makes the next step fail as a lost GPU would.
fn take_simulated_device_loss() -> bool {
    let Some(w) = web_sys::window() else {
        return false;
    };
    let key = JsValue::from_str("flowplayFailNextStep");
    let set = js_sys::Reflect::get(&w, &key)
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if set {
        let _ = js_sys::Reflect::set(&w, &key, &JsValue::FALSE);
    }
    set
}

/// What a slice of training ended with.
enum Chunk {
    Continue,
    Finished,
    Failed,
}

/// Everything the components share (all fields are `Copy` handles).
#[derive(Clone, Copy)]
pub struct Page {
    pub config: RwSignal<PageConfig>,
    pub notices: RwSignal<Vec<String>>,
    pub state: RwSignal<RunState>,
    pub backend: RwSignal<String>,
    pub backend_reason: RwSignal<String>,
    pub step: RwSignal<usize>,
    pub loss: RwSignal<Option<f32>>,
    pub val_nll: RwSignal<Option<f64>>,
    pub nan_events: RwSignal<usize>,
    pub inversion_error: RwSignal<Option<f32>>,
    /// Largest per-layer |log det| on the samples (a coupling's largest |log-scale|).
    pub max_log_scale: RwSignal<Option<f32>>,
    pub steps_per_sec: RwSignal<f64>,
    /// How long the last redraw took (ms).
    pub draw_ms: RwSignal<f64>,
    pub error: RwSignal<Option<String>>,
    pub share: RwSignal<Option<String>>,
    session: StoredValue<Option<Session>, LocalStorage>,
    /// While on WebGPU: the `.flow` bytes and step of the last CPU copy of the model, to fall
    /// back to if the GPU device is lost.
    checkpoint: StoredValue<Option<(Vec<u8>, usize)>, LocalStorage>,
    /// Points drawn for `target=draw`, `[x, y]` pairs in data coordinates.
    drawn: StoredValue<Vec<f32>, LocalStorage>,
    pub drawn_count: RwSignal<usize>,
    /// The layer-by-layer view's data and the stage shown.
    stages: StoredValue<Vec<StageView>, LocalStorage>,
    pub stage_count: RwSignal<usize>,
    pub layer: RwSignal<usize>,
    /// Bumped by Reset/Train so a stale loop stops.
    generation: RwSignal<u64>,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Resolves after the browser had a turn (a `setTimeout(0)`).
async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

fn url_parts() -> (String, String) {
    let loc = web_sys::window().map(|w| w.location());
    let query = loc
        .as_ref()
        .and_then(|l| l.search().ok())
        .unwrap_or_default();
    let hash = loc.as_ref().and_then(|l| l.hash().ok()).unwrap_or_default();
    (query, hash)
}

impl Page {
    fn new() -> Self {
        let (query, hash) = url_parts();
        let (config, notices) = PageConfig::from_url_parts(&query, &hash);
        Self {
            config: RwSignal::new(config),
            notices: RwSignal::new(notices),
            state: RwSignal::new(RunState::Idle),
            backend: RwSignal::new(String::new()),
            backend_reason: RwSignal::new(String::new()),
            step: RwSignal::new(0),
            loss: RwSignal::new(None),
            val_nll: RwSignal::new(None),
            nan_events: RwSignal::new(0),
            inversion_error: RwSignal::new(None),
            max_log_scale: RwSignal::new(None),
            steps_per_sec: RwSignal::new(0.0),
            draw_ms: RwSignal::new(0.0),
            error: RwSignal::new(None),
            share: RwSignal::new(None),
            session: StoredValue::new_local(None),
            checkpoint: StoredValue::new_local(None),
            drawn: StoredValue::new_local(Vec::new()),
            drawn_count: RwSignal::new(0),
            stages: StoredValue::new_local(Vec::new()),
            stage_count: RwSignal::new(0),
            // Past the end: shows the last stage (the data side) until the user scrubs.
            layer: RwSignal::new(usize::MAX),
            generation: RwSignal::new(0),
        }
    }

    fn fail(&self, message: String) {
        web_sys::console::error_1(&JsValue::from_str(&message));
        self.error.set(Some(message));
        self.state.set(RunState::Error);
    }

    /// Writes the configuration into the URL fragment (no history entry).
    fn sync_url(&self) {
        let fragment = self.config.get_untracked().to_fragment();
        if let Some(w) = web_sys::window()
            && let Ok(h) = w.history()
        {
            let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&format!("#{fragment}")));
        }
    }

    /// Builds a session for the current configuration if there is none.
    async fn ensure_session(&self) -> bool {
        if self.session.with_value(|s| s.is_some()) {
            return true;
        }
        let cfg = self.config.get_untracked();
        let chosen = backend::choose(cfg.backend).await;
        self.backend.set(chosen.name.to_string());
        self.backend_reason.set(chosen.reason.clone());
        let drawn = cfg.drawing.then(|| self.drawn.get_value());
        match Session::new(&cfg, chosen.device, drawn) {
            Ok(s) => {
                self.checkpoint.set_value(None);
                if chosen.name == "webgpu" {
                    self.save_checkpoint(&s).await;
                }
                self.session.set_value(Some(s));
                true
            }
            Err(e) => {
                self.fail(format!("could not build the flow: {e}"));
                false
            }
        }
    }

    /// Runs steps for about `budget_ms` and updates the status signals; `Finished` when the
    /// step limit is reached. Drawing is separate ([`Self::draw_now`]) so a click can be handled
    /// between the two.
    async fn chunk(&self, budget_ms: f64) -> Chunk {
        let Some(mut s) = self.session.try_update_value(|v| v.take()).flatten() else {
            return Chunk::Failed;
        };
        let t0 = now_ms();
        let step0 = s.trainer.step;
        let mut result = Ok(());
        loop {
            if take_simulated_device_loss() {
                result = Err("simulated device loss (window.flowplayFailNextStep)".to_string());
                break;
            }
            if let Err(e) = s.run(1).await {
                result = Err(e);
                break;
            }
            if now_ms() - t0 >= budget_ms || s.done() {
                break;
            }
        }
        let elapsed = (now_ms() - t0).max(1e-3);
        let steps = s.trainer.step - step0;
        if steps > 0 {
            self.steps_per_sec.set(steps as f64 * 1000.0 / elapsed);
        }
        self.step.set(s.trainer.step);
        self.loss.set(s.last_loss);
        self.val_nll.set(s.last_val_nll);
        self.nan_events.set(s.trainer.history.nan_events.len());
        let done = s.done();
        let on_gpu = self.backend.get_untracked() == "webgpu";
        if result.is_ok() && on_gpu && s.trainer.step >= self.checkpoint_step() + CHECKPOINT_EVERY {
            self.save_checkpoint(&s).await;
        }
        self.session.set_value(Some(s));
        match result {
            Err(e) if on_gpu => self.fall_back_to_cpu(e).await,
            Err(e) => {
                self.fail(e);
                Chunk::Failed
            }
            Ok(()) if done => Chunk::Finished,
            Ok(()) => Chunk::Continue,
        }
    }

    fn checkpoint_step(&self) -> usize {
        self.checkpoint
            .with_value(|c| c.as_ref().map_or(0, |(_, step)| *step))
    }

    /// Copies the model to the CPU (asynchronous readbacks) and keeps it as `.flow` bytes.
    async fn save_checkpoint(&self, s: &Session) {
        let model = s.model();
        let mut meta = FlowMeta::new(model.config().clone());
        meta.history = Some(s.trainer.history.clone());
        if let Ok(bytes) = model_file::to_bytes_async(&model, &meta).await {
            self.checkpoint.set_value(Some((bytes, s.trainer.step)));
        }
    }

    /// The WebGPU device failed mid-training: continue on the CPU from the last checkpoint.
    async fn fall_back_to_cpu(&self, error: String) -> Chunk {
        let Some((bytes, step)) = self.checkpoint.get_value() else {
            self.fail(format!("WebGPU failed before any checkpoint: {error}"));
            return Chunk::Failed;
        };
        let cfg = self.config.get_untracked();
        let cpu = burn::tensor::Device::flex();
        let restored = model_file::from_bytes(bytes, &cpu.clone().autodiff())
            .map_err(|e| e.to_string())
            .and_then(|(flow, meta)| {
                let drawn = cfg.drawing.then(|| self.drawn.get_value());
                Session::with_flow(&cfg, cpu.clone(), drawn, flow, meta.history, step)
            });
        match restored {
            Ok(session) => {
                self.session.set_value(Some(session));
                self.checkpoint.set_value(None);
                self.backend.set("cpu".to_string());
                self.backend_reason.set(format!(
                    "WebGPU failed ({error}); training continues on the CPU from step {step}"
                ));
                self.step.set(step);
                Chunk::Continue
            }
            Err(e) => {
                self.fail(format!(
                    "WebGPU failed ({error}) and the CPU fallback failed too: {e}"
                ));
                Chunk::Failed
            }
        }
    }

    /// Redraws the views from the current session.
    async fn draw_now(&self) {
        let Some(s) = self.session.try_update_value(|v| v.take()).flatten() else {
            return;
        };
        let t0 = now_ms();
        let drawn = self.redraw(&s).await;
        self.draw_ms.set(now_ms() - t0);
        self.session.set_value(Some(s));
        if let Err(e) = drawn {
            self.fail(e);
        }
    }

    async fn redraw(&self, s: &Session) -> Result<(), String> {
        let snap = s.snapshot().await?;
        self.inversion_error.set(Some(snap.inversion_error));
        let cfg = self.config.get_untracked();
        draw::density(
            "density-canvas",
            s,
            &snap,
            &format!("{} on {}", cfg.flow, cfg.target.name()),
        )?;
        if !cfg.embed {
            draw::losses("loss-canvas", s)?;
            let stages = s.stages(300).await?;
            self.stage_count.set(stages.len());
            let largest = stages
                .iter()
                .skip(1)
                .map(|st| st.max_abs_logdet)
                .fold(0.0f32, f32::max);
            self.max_log_scale.set(Some(largest));
            if self.layer.get_untracked() >= stages.len() {
                self.layer.set(stages.len().saturating_sub(1));
            }
            self.stages.set_value(stages);
            self.draw_stage();
        }
        Ok(())
    }

    /// Draws the selected stage of the layer-by-layer view.
    fn draw_stage(&self) {
        let k = self.layer.get_untracked();
        if let Err(e) = self
            .stages
            .with_value(|st| draw::stage("layer-canvas", st, k))
        {
            self.fail(e);
        }
    }

    fn train(self) {
        if self.state.get_untracked() == RunState::Training {
            return;
        }
        self.state.set(RunState::Training);
        let generation = self.generation.get_untracked() + 1;
        self.generation.set(generation);
        spawn_local(async move {
            if !self.ensure_session().await {
                return;
            }
            let mut last_draw = f64::NEG_INFINITY;
            while self.state.get_untracked() == RunState::Training
                && self.generation.get_untracked() == generation
            {
                match self.chunk(TRAIN_SLICE_MS).await {
                    Chunk::Continue => {}
                    Chunk::Finished => {
                        self.draw_now().await;
                        self.state.set(RunState::Done);
                        break;
                    }
                    Chunk::Failed => break,
                }
                yield_now().await;
                // Draw at ≈20 Hz, but never spend more than a third of the time drawing.
                let interval = DRAW_EVERY_MS.max(2.0 * self.draw_ms.get_untracked());
                if now_ms() - last_draw >= interval {
                    last_draw = now_ms();
                    self.draw_now().await;
                    yield_now().await;
                }
            }
            if self.state.get_untracked() == RunState::Paused {
                self.draw_now().await;
            }
        });
    }

    fn step_once(self) {
        if self.state.get_untracked() == RunState::Training {
            return;
        }
        spawn_local(async move {
            if !self.ensure_session().await {
                return;
            }
            let outcome = self.chunk(0.0).await;
            self.draw_now().await;
            match outcome {
                Chunk::Continue => self.state.set(RunState::Paused),
                Chunk::Finished => self.state.set(RunState::Done),
                Chunk::Failed => {}
            }
        });
    }

    fn pause(self) {
        if self.state.get_untracked() == RunState::Training {
            self.state.set(RunState::Paused);
        }
    }

    fn reset(self) {
        self.generation.update(|g| *g += 1);
        self.session.set_value(None);
        self.state.set(RunState::Idle);
        self.step.set(0);
        self.loss.set(None);
        self.val_nll.set(None);
        self.nan_events.set(0);
        self.inversion_error.set(None);
        self.max_log_scale.set(None);
        self.error.set(None);
    }

    /// Applies a configuration change: the old session no longer matches it.
    fn configure(self, f: impl FnOnce(&mut PageConfig)) {
        self.config.update(f);
        self.sync_url();
        self.reset();
    }

    fn export(self) {
        let Some(model) = self.session.with_value(|s| s.as_ref().map(|s| s.model())) else {
            return self.fail("export: train or import a flow first".into());
        };
        let (target, drawn, history) = self
            .session
            .with_value(|s| {
                s.as_ref()
                    .map(|s| (s.target, s.drawn, s.trainer.history.clone()))
            })
            .expect("session checked above");
        spawn_local(async move {
            let result = async {
                let mut meta = FlowMeta::new(model.config().clone());
                meta.target = (!drawn).then(|| target.name().to_string());
                meta.history = Some(history);
                model_file::to_bytes_async(&model, &meta)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            let cfg = self.config.get_untracked();
            match result
                .and_then(|bytes| download(&format!("{}-{}.flow", target.name(), cfg.flow), &bytes))
            {
                Ok(()) => {}
                Err(e) => self.fail(format!("export failed: {e}")),
            }
        });
    }

    /// Redraws the drawing pad: axes and the drawn points.
    fn draw_pad(&self) {
        let Some(canvas) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("draw-canvas"))
            .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        else {
            return;
        };
        let Some(ctx) = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
        else {
            return;
        };
        let (w, h) = (canvas.width() as f64, canvas.height() as f64);
        ctx.set_fill_style_str("#ffffff");
        ctx.fill_rect(0.0, 0.0, w, h);
        ctx.set_stroke_style_str("#cccccc");
        ctx.begin_path();
        ctx.move_to(w / 2.0, 0.0);
        ctx.line_to(w / 2.0, h);
        ctx.move_to(0.0, h / 2.0);
        ctx.line_to(w, h / 2.0);
        ctx.stroke();
        ctx.set_fill_style_str("rgba(200, 30, 30, 0.6)");
        let b = super::session::DRAW_BOUNDS;
        self.drawn.with_value(|pts| {
            for p in pts.chunks(2) {
                let x = (p[0] as f64 - b.x.0) / (b.x.1 - b.x.0) * w;
                let y = (b.y.1 - p[1] as f64) / (b.y.1 - b.y.0) * h;
                ctx.fill_rect(x - 1.5, y - 1.5, 3.0, 3.0);
            }
        });
    }

    /// Adds a small cloud of points around the pointer (pixel `(px, py)` on a `w × h` pad).
    fn add_points(&self, px: f64, py: f64, w: f64, h: f64) {
        let b = super::session::DRAW_BOUNDS;
        let x = b.x.0 + px / w * (b.x.1 - b.x.0);
        let y = b.y.1 - py / h * (b.y.1 - b.y.0);
        let count = self.drawn_count.get_untracked();
        let mut rng = crate::rng::Rng::new(count as u64 + 1);
        self.drawn.update_value(|pts| {
            for _ in 0..4 {
                pts.push((x + 0.08 * rng.normal()) as f32);
                pts.push((y + 0.08 * rng.normal()) as f32);
            }
        });
        self.drawn_count.set(self.drawn.with_value(|p| p.len() / 2));
        self.draw_pad();
    }

    /// Loads a `.flow` file into a paused session (it can then be trained further or exported).
    async fn load_model(self, bytes: Vec<u8>, name: &str) {
        let cfg = self.config.get_untracked();
        let chosen = backend::choose(cfg.backend).await;
        let (flow, meta) = match model_file::from_bytes(bytes, &chosen.device.clone().autodiff()) {
            Ok(loaded) => loaded,
            Err(e) => return self.fail(format!("could not load {name}: {e}")),
        };
        if let Some(image) = &meta.image {
            return self.fail(format!(
                "{name} is an image model ({} images{}); the playground trains and shows 2D \
                 flows — draw its samples with `flowplay sample --model {name} --out grid.png`",
                image.shape,
                image
                    .dataset
                    .as_deref()
                    .map(|d| format!(" of {d}"))
                    .unwrap_or_default()
            ));
        }
        if flow.dim() != 2 {
            return self.fail(format!(
                "the page shows 2D flows; {name} has dimension {}",
                flow.dim()
            ));
        }
        self.reset();
        let target = meta
            .target
            .as_deref()
            .and_then(|t| t.parse::<Target>().ok())
            .unwrap_or(cfg.target);
        let kind = meta.spec.as_ref().map(|s| s.kind).unwrap_or(cfg.flow);
        self.config.update(|c| {
            c.target = target;
            c.flow = kind;
            if let Some(spec) = &meta.spec {
                c.layers = spec.layers;
                c.hidden = spec.hidden;
            }
        });
        self.sync_url();
        let cfg = self.config.get_untracked();
        let session =
            match Session::with_flow(&cfg, chosen.device.clone(), None, flow, meta.history, 0) {
                Ok(s) => s,
                Err(e) => return self.fail(e),
            };
        self.backend.set(chosen.name.to_string());
        self.backend_reason
            .set(format!("{} · loaded {name}", chosen.reason));
        self.session.set_value(Some(session));
        self.draw_now().await;
        self.state.set(RunState::Paused);
    }

    fn share_text(self) {
        let href = web_sys::window()
            .and_then(|w| w.location().href().ok())
            .unwrap_or_default();
        let base = href
            .split('#')
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let fragment = self.config.get_untracked().to_fragment();
        let link = format!("{base}#{fragment}");
        let iframe = format!(
            "<iframe src=\"{base}?embed=1#{fragment}&autostart=1\" width=\"420\" height=\"520\" style=\"border:0\" title=\"flowplay\"></iframe>"
        );
        let text = format!("{link}\n{iframe}");
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&text);
        }
        self.share.set(Some(text));
    }
}

/// The pretrained model shipped in `www/models/`.
const BUNDLED_MODEL: &str = "models/moons-realnvp.flow";

/// `fetch(url)` → bytes.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("{e:?}"))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let err = |e: JsValue| format!("download failed: {e:?}");
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).map_err(err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").map_err(err)?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    web_sys::Url::revoke_object_url(&url).map_err(err)
}

/// The formula of each flow family, shown under the controls.
fn formula(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Planar => {
            "x = z + û·tanh(wᵀz + b),  log|det| = log|1 + (1 − tanh²)ûᵀw|  (Rezende & Mohamed 2015)"
        }
        FlowKind::Radial => "x = z + β(z − z₀)/(α + r),  r = ‖z − z₀‖  (Rezende & Mohamed 2015)",
        FlowKind::Realnvp => {
            "z = m⊙x + (1−m)⊙(x·exp(s(m⊙x)) + t(m⊙x)),  log|det| = Σ(1−m)s  (Dinh et al. 2017)"
        }
        FlowKind::Nice => {
            "z = m⊙x + (1−m)⊙(x + t(m⊙x)),  log|det| = 0, then a diagonal scaling  (Dinh et al. 2015)"
        }
        FlowKind::Maf => {
            "zᵢ = (xᵢ − μᵢ(x<ᵢ))·exp(−aᵢ(x<ᵢ)), one pass for density  (Papamakarios et al. 2017)"
        }
        FlowKind::Iaf => {
            "xᵢ = zᵢ·exp(aᵢ(z<ᵢ)) + μᵢ(z<ᵢ), one pass for sampling  (Kingma et al. 2016)"
        }
        FlowKind::Nsf => {
            "monotone rational-quadratic splines with K bins on [−B, B], identity tails  (Durkan et al. 2019)"
        }
    }
}

/// A labelled `<select>` over `options`, writing the choice through `set`.
#[component]
fn Choice(
    /// Visible label.
    label: &'static str,
    /// Element id.
    id: &'static str,
    /// `(value, text)` pairs.
    options: Vec<(String, String)>,
    /// The current value.
    value: Signal<String>,
    /// Called with the new value.
    set: Callback<String>,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <select id=id on:change=move |ev| set.run(event_target_value(&ev))>
            {options
                .into_iter()
                .map(|(v, t)| {
                    let mine = v.clone();
                    view! { <option value=v prop:selected=move || value.get() == mine>{t}</option> }
                })
                .collect_view()}
        </select>
    }
}

/// A labelled number input.
#[component]
fn Number(
    label: &'static str,
    id: &'static str,
    value: Signal<String>,
    set: Callback<String>,
    #[prop(default = "1")] step: &'static str,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <input id=id type="number" step=step prop:value=move || value.get()
            on:change=move |ev| set.run(event_target_value(&ev)) />
    }
}

/// Train / Pause / Step / Reset.
#[component]
fn Buttons() -> impl IntoView {
    let page = expect_context::<Page>();
    let training = move || page.state.get() == RunState::Training;
    view! {
        <div class="buttons">
            <button id="train" on:click=move |_| page.train() disabled=training>"Train"</button>
            <button id="pause" on:click=move |_| page.pause() disabled=move || !training()>"Pause"</button>
            <button id="step" on:click=move |_| page.step_once() disabled=training>"Step"</button>
            <button id="reset" on:click=move |_| page.reset()>"Reset"</button>
        </div>
    }
}

/// The configuration form.
#[component]
fn Controls() -> impl IntoView {
    let page = expect_context::<Page>();
    let cfg = page.config;
    let mut targets: Vec<(String, String)> = Target::names()
        .into_iter()
        .map(|n| (n.to_string(), n.to_string()))
        .collect();
    targets.push(("draw".to_string(), "draw your own".to_string()));
    let flows: Vec<(String, String)> = FlowKind::ALL
        .iter()
        .map(|k| (k.name().to_string(), k.name().to_string()))
        .collect();
    let backends = vec![
        ("auto".to_string(), "auto".to_string()),
        ("cpu".to_string(), "CPU".to_string()),
        ("webgpu".to_string(), "WebGPU".to_string()),
    ];
    let num = move |f: fn(&PageConfig) -> String| Signal::derive(move || f(&cfg.get()));
    let notice = move |what: &str, v: &str| {
        page.notices.update(|n| {
            n.push(format!(
                "'{what}={v}' is not valid; kept the previous value"
            ))
        })
    };
    // Every number goes through `PageConfig::set`, the same parser and range as the URL's.
    let set_param = move |key: &'static str| {
        Callback::new(move |v: String| {
            let mut probe = cfg.get_untracked();
            match probe.set(key, v.trim()) {
                Ok(()) => page.configure(|c| *c = probe),
                Err(_) => notice(key, &v),
            }
        })
    };
    view! {
        <fieldset class="controls">
            <legend>"Flow"</legend>
            <Choice label="Target" id="target" options=targets
                value=num(|c| if c.drawing { "draw".to_string() } else { c.target.name().to_string() })
                set=Callback::new(move |v: String| {
                    if v == "draw" {
                        page.configure(|c| c.drawing = true);
                        page.draw_pad();
                    } else if let Ok(t) = v.parse() {
                        page.configure(|c| { c.target = t; c.drawing = false; })
                    }
                }) />
            <Choice label="Flow" id="flow" options=flows value=num(|c| c.flow.name().to_string())
                set=Callback::new(move |v: String| if let Ok(f) = v.parse() { page.configure(|c| c.flow = f) }) />
            <Number label="Layers" id="layers" value=num(|c| c.layers.to_string())
                set=set_param("layers") />
            <Number label="Hidden" id="hidden" value=num(|c| c.hidden.to_string())
                set=set_param("hidden") />
            <Number label="Learning rate" id="lr" step="0.0001" value=num(|c| c.lr.to_string())
                set=set_param("lr") />
            <Number label="Batch" id="batch" value=num(|c| c.batch.to_string())
                set=set_param("batch") />
            <Choice label="Backend" id="backend" options=backends value=num(|c| c.backend.name().to_string())
                set=Callback::new(move |v: String| {
                    let b = match v.as_str() { "cpu" => BackendPref::Cpu, "webgpu" => BackendPref::Webgpu, _ => BackendPref::Auto };
                    page.configure(|c| c.backend = b)
                }) />
        </fieldset>
    }
}

/// `<output id="flow-status">`: machine-readable state for embedding hosts and tests.
#[component]
fn Status() -> impl IntoView {
    let page = expect_context::<Page>();
    let fmt_loss = move || {
        page.loss
            .get()
            .map(|v| format!("{v:.4}"))
            .unwrap_or_default()
    };
    let fmt_val = move || {
        page.val_nll
            .get()
            .map(|v| format!("{v:.4}"))
            .unwrap_or_default()
    };
    view! {
        <output id="flow-status" aria-live="polite"
            data-state=move || page.state.get().name()
            data-backend=move || page.backend.get()
            data-step=move || page.step.get().to_string()
            data-loss=fmt_loss
            data-val-nll=fmt_val>
            {move || page.state.get().name()} " · step " {move || page.step.get()}
            " · loss " {fmt_loss}
            {move || page.val_nll.get().map(|v| format!(" · validation NLL {v:.4}"))}
            {move || (!page.backend.get().is_empty()).then(|| format!(" · {} ({:.0} steps/s)", page.backend.get(), page.steps_per_sec.get()))}
        </output>
    }
}

/// NaN events, inversion error.
#[component]
fn Health() -> impl IntoView {
    let page = expect_context::<Page>();
    view! {
        <dl class="health">
            <dt>"NaN/Inf steps rolled back"</dt><dd id="nan-events">{move || page.nan_events.get()}</dd>
            <dt>"max ‖f⁻¹(f(x)) − x‖"</dt>
            <dd id="inversion-error">{move || page.inversion_error.get().map(|e| format!("{e:.2e}")).unwrap_or_else(|| "–".into())}</dd>
            <dt>"largest per-layer |log det|"</dt>
            <dd id="max-log-scale">{move || page.max_log_scale.get().map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())}</dd>
            <dt>"redraw time"</dt><dd id="draw-ms">{move || format!("{:.0} ms", page.draw_ms.get())}</dd>
        </dl>
    }
}

/// The drawing pad for `target=draw`: click or drag to add points.
#[component]
fn DrawPad() -> impl IntoView {
    let page = expect_context::<Page>();
    let dragging = RwSignal::new(false);
    let add = move |ev: &web_sys::MouseEvent| {
        let canvas: web_sys::HtmlCanvasElement = event_target(ev);
        let rect = canvas.get_bounding_client_rect();
        let px = (ev.client_x() as f64 - rect.left()) * canvas.width() as f64 / rect.width();
        let py = (ev.client_y() as f64 - rect.top()) * canvas.height() as f64 / rect.height();
        page.add_points(px, py, canvas.width() as f64, canvas.height() as f64);
    };
    Effect::new(move |_| {
        if page.config.get().drawing {
            page.draw_pad();
        }
    });
    view! {
        <div class="drawpad" style:display=move || if page.config.get().drawing { "flex" } else { "none" }>
            <label for="draw-canvas">
                "Draw your data: click or drag on the pad (" {move || page.drawn_count.get()} " points; at least 20 to train)"
            </label>
            <canvas id="draw-canvas" width="400" height="400"
                on:mousedown=move |ev| { dragging.set(true); add(&ev); }
                on:mousemove=move |ev| if dragging.get_untracked() { add(&ev) }
                on:mouseup=move |_| dragging.set(false)
                on:mouseleave=move |_| dragging.set(false)></canvas>
            <button id="clear-drawing" on:click=move |_| {
                page.drawn.set_value(Vec::new());
                page.drawn_count.set(0);
                page.draw_pad();
                page.reset();
            }>"Clear points"</button>
        </div>
    }
}

/// The layer scrubber: samples after each layer, noise → data.
#[component]
fn Scrubber() -> impl IntoView {
    let page = expect_context::<Page>();
    let max = move || page.stage_count.get().saturating_sub(1).to_string();
    view! {
        <div class="scrubber">
            <label for="layer">"Layer-by-layer: stage "
                {move || page.layer.get().min(page.stage_count.get().saturating_sub(1))} " of " {max}</label>
            <input id="layer" type="range" min="0" max=max prop:value=move || page.layer.get().to_string()
                on:input=move |ev| {
                    if let Ok(k) = event_target_value(&ev).parse::<usize>() {
                        page.layer.set(k);
                        page.draw_stage();
                    }
                } />
            <canvas id="layer-canvas" width="480" height="360"></canvas>
        </div>
    }
}

/// Export / import `.flow` files.
#[component]
fn Files() -> impl IntoView {
    let page = expect_context::<Page>();
    let import = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        spawn_local(async move {
            match JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => {
                    page.load_model(js_sys::Uint8Array::new(&buffer).to_vec(), &file.name())
                        .await
                }
                Err(e) => page.fail(format!("could not read the file: {e:?}")),
            }
        });
    };
    let example = move |_| {
        spawn_local(async move {
            match fetch_bytes(BUNDLED_MODEL).await {
                Ok(bytes) => page.load_model(bytes, BUNDLED_MODEL).await,
                Err(e) => page.fail(format!("could not fetch {BUNDLED_MODEL}: {e}")),
            }
        });
    };
    view! {
        <div class="files">
            <button id="export" on:click=move |_| page.export()>"Export .flow"</button>
            <label for="import">"Import .flow"</label>
            <input id="import" type="file" accept=".flow" on:change=import />
            <button id="load-example" on:click=example>"Load the bundled model"</button>
            <button id="share" on:click=move |_| page.share_text()>"Share / Embed"</button>
            {move || page.share.get().map(|t| view! { <textarea id="share-text" readonly rows="3">{t}</textarea> })}
        </div>
    }
}

/// The whole page (or its compact embed view).
#[component]
pub fn App() -> impl IntoView {
    let page = Page::new();
    provide_context(page);
    let embed = page.config.get_untracked().embed;
    if page.config.get_untracked().autostart {
        page.train();
    }
    let notices = move || {
        let n = page.notices.get();
        (!n.is_empty())
            .then(|| view! { <div id="notices" class="notice" role="status">{n.join("; ")}</div> })
    };
    let error = move || {
        page.error
            .get()
            .map(|e| view! { <div id="error" class="error" role="alert">{e}</div> })
    };
    if embed {
        return view! {
            <main class="embed">
                {notices}{error}
                <canvas id="density-canvas" width="400" height="400"></canvas>
                <Buttons />
                <Status />
            </main>
        }
        .into_any();
    }
    view! {
        <header>
            <h1>"flowplay"</h1>
            <p>"Train a normalizing flow in your browser and watch it learn a density."</p>
        </header>
        <main class="layout">
            <section class="panel">
                {notices}{error}
                <Controls />
                <Buttons />
                <Status />
                <p class="backend-reason" id="backend-reason">{move || page.backend_reason.get()}</p>
                <Health />
                <Files />
                <p class="formula" id="formula">{move || formula(page.config.get().flow)}</p>
                <p class="explain">
                    "The heatmap is the flow's density q(x) = p(f(x))·|det ∂f/∂x| on a grid; white dots are samples "
                    "x = f⁻¹(z), z ~ N(0, I); red dots are the training data. Sample targets train by maximum likelihood "
                    "(forward KL), energies by reverse KL against exp(−U)."
                </p>
            </section>
            <section class="views">
                <DrawPad />
                <canvas id="density-canvas" width="480" height="480"></canvas>
                <canvas id="loss-canvas" width="480" height="260"></canvas>
                <Scrubber />
            </section>
        </main>
    }
    .into_any()
}
