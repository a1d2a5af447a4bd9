//! A training run in the page: its [`Session`], the WebGPU→CPU fallback with its checkpoint,
//! and what the views and the file actions need from it (a [`Frame`], the `.flow` bytes).
//!
//! A [`Runner`] never touches the DOM or a signal: it lives in the training loop
//! (`web::train_loop`), which runs in the page's Web Worker (or, where no worker starts, on the
//! UI thread).

use super::protocol::{Event, Frame, Progress};
use super::session::Session;
use crate::model_file::{self, FlowMeta};
use crate::targets::Target;
use crate::web::shell::backend;
use crate::web::shell::host::now_ms;
use crate::web::shell::url::PageConfig;

/// On WebGPU, a CPU copy of the model is kept every this many steps (device-loss fallback).
const CHECKPOINT_EVERY: usize = 25;

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
            backend: chosen.name.to_string(),
            reason: chosen.reason,
        };
        Ok((runner, started))
    }

    /// Loads the `.flow` file `name` into a paused run. `cfg` supplies what the file does not
    /// say; the configuration the file implies (its target, flow, layers, hidden width) comes
    /// back with the run.
    pub async fn load(
        cfg: &PageConfig,
        bytes: Vec<u8>,
        name: &str,
    ) -> Result<(Self, PageConfig, Event), String> {
        let chosen = backend::choose(cfg.backend).await;
        let (flow, meta) = model_file::from_bytes(bytes, &chosen.device.clone().autodiff())
            .map_err(|e| format!("could not load {name}: {e}"))?;
        if let Some(image) = &meta.image {
            return Err(format!(
                "{name} is an image model ({} images{}); the playground trains and shows 2D \
                 flows — open it under \"Image models\" (Import .flow there)",
                image.shape,
                image
                    .dataset
                    .as_deref()
                    .map(|d| format!(" of {d}"))
                    .unwrap_or_default()
            ));
        }
        if flow.dim() != 2 {
            return Err(format!(
                "the page shows 2D flows; {name} has dimension {}",
                flow.dim()
            ));
        }
        let mut cfg = cfg.clone();
        cfg.drawing = false;
        if let Some(target) = meta
            .target
            .as_deref()
            .and_then(|t| t.parse::<Target>().ok())
        {
            cfg.target = target;
        }
        if let Some(spec) = &meta.spec {
            cfg.flow = spec.kind;
            cfg.layers = spec.layers;
            cfg.hidden = spec.hidden;
        }
        let session = Session::with_flow(&cfg, chosen.device, None, flow, meta.history, 0)?;
        let runner = Self::with_session(session, chosen.name, &cfg, None).await;
        let started = Event::Started {
            backend: chosen.name.to_string(),
            reason: format!("{} · loaded {name}", chosen.reason),
        };
        Ok((runner, cfg, started))
    }

    /// Wraps a session built elsewhere on the backend named `backend`.
    async fn with_session(
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

    /// Trains for about `budget_ms` (at least one step) and reports what happened. With
    /// `lose_device`, the first step fails as a lost GPU would (the page's test hook).
    pub async fn slice(&mut self, budget_ms: f64, lose_device: bool) -> Vec<Event> {
        let t0 = now_ms();
        let step0 = self.session.trainer.step;
        #[cfg(feature = "test-hooks")]
        let mut result = match lose_device {
            true => Err("simulated device loss (window.flowplayFailNextStep)".to_string()),
            false => Ok(()),
        };
        #[cfg(not(feature = "test-hooks"))]
        let (mut result, _) = (Ok(()), lose_device);
        while result.is_ok() {
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

    /// What the views draw: the density grid (with `live`, refreshed in part:
    /// [`Session::snapshot`](crate::web::playground::session::Session::snapshot)), samples, the loss history and,
    /// with `stages`, the layer-by-layer view.
    pub async fn frame(&mut self, live: bool, stages: bool) -> Result<Frame, String> {
        let t0 = now_ms();
        let stages = if stages {
            Some(
                self.session
                    .stages(crate::web::playground::session::VIEW_SAMPLES)
                    .await?,
            )
        } else {
            None
        };
        let samples = stages
            .as_ref()
            .and_then(|st| st.last())
            .map(|last| last.points.clone());
        let snapshot = self.session.snapshot(live, samples).await?;
        let s = &self.session;
        Ok(Frame {
            snapshot,
            bounds: s.bounds,
            data: s.data.clone(),
            history: s.trainer.history.clone(),
            stages,
            compute_ms: now_ms() - t0,
        })
    }

    /// The run's flow as `.flow` bytes (with its target and loss history), and a file name.
    pub async fn export(&self) -> Result<(String, Vec<u8>), String> {
        let s = &self.session;
        let model = s.model();
        let mut meta = FlowMeta::new(model.config().clone());
        meta.target = (!s.drawn).then(|| s.target.name().to_string());
        meta.history = Some(s.trainer.history.clone());
        let bytes = model_file::to_bytes_async(&model, &meta)
            .await
            .map_err(|e| format!("export failed: {e}"))?;
        Ok((format!("{}-{}.flow", s.target.name(), self.cfg.flow), bytes))
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
