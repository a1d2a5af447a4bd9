//! The step loop: Adam with linear learning-rate warm-up and gradient-norm clipping, periodic
//! evaluation into a [`History`], and a NaN/Inf guard.
//!
//! The guard reads the loss before applying the update. A non-finite loss means the current
//! parameters (or the last update) went bad: the model is rolled back to the parameters before
//! the last update, Adam's moments are reset, the event is recorded, and training continues;
//! `max_consecutive_nan` bad steps in a row end training with [`TrainError::Diverged`], leaving
//! the last good model in place.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::data_parallel::{Replicas, ShardLoss, Update};
use super::optim::GuardedAdam;
use super::{History, HistoryPoint, Objective};
use crate::flows::{Flow, FlowConfig};
use crate::readback::scalar_async;
use crate::rng::Rng;

/// Optimiser and loop settings.
#[derive(Clone, Debug)]
pub struct TrainSettings {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    /// Linear warm-up from `lr/warmup_steps` to `lr` (0 = none).
    pub warmup_steps: usize,
    /// Clip the global gradient norm to this value.
    pub clip_norm: Option<f32>,
    pub seed: u64,
    /// Evaluate (and record a history point) every this many steps.
    pub eval_every: usize,
    pub max_consecutive_nan: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            steps: 2000,
            batch: 512,
            lr: 1e-3,
            warmup_steps: 50,
            clip_norm: Some(10.0),
            seed: 0,
            eval_every: 100,
            max_consecutive_nan: 20,
        }
    }
}

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "training diverged: the loss was NaN/Inf on {consecutive} consecutive steps (last at step {step}); the last good parameters were kept"
    )]
    Diverged { step: usize, consecutive: usize },
    #[error(transparent)]
    Readback(#[from] crate::readback::ReadbackError),
    #[error("invalid training setup: {0}")]
    Setup(String),
    #[error("invalid training setup: {0}")]
    Architecture(#[from] crate::flows::validate::ArchitectureError),
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepOutcome {
    /// The update was applied; the batch loss before it.
    Updated { loss: f32 },
    /// The loss was NaN/Inf: parameters were rolled back.
    RolledBack,
}

/// A flow, its optimiser and its objective.
pub struct Trainer {
    pub model: Flow,
    optim: GuardedAdam,
    pub objective: Objective,
    pub settings: TrainSettings,
    device: Device,
    rng: Rng,
    pub step: usize,
    pub history: History,
    window_loss: f64,
    window_steps: usize,
    /// Replicas that split each batch's rows over CPU threads ([`Self::with_cpu_threads`]).
    replicas: Option<Replicas>,
}

impl Trainer {
    /// Builds the flow on the autodiff version of `device`, seeded by `settings.seed`;
    /// for forward KL the data-dependent layers (ActNorm) are initialised on a training batch.
    pub fn new(
        config: &FlowConfig,
        objective: Objective,
        settings: TrainSettings,
        device: &Device,
    ) -> Result<Self, TrainError> {
        Self::check(config, &objective, &settings)?;
        let device = device.clone().autodiff();
        let model = Self::initial_model(config, &objective, settings.seed, &device);
        Ok(Self::from_model(model, objective, settings, device))
    }

    /// The model [`Self::new`] starts from: `config` built on `device` seeded by `seed`, its
    /// data-dependent layers (ActNorm) initialised on up to 4 096 of the objective's training
    /// rows. A caller that edits it before training hands it to [`Self::with_flow`].
    pub fn initial_model(
        config: &FlowConfig,
        objective: &Objective,
        seed: u64,
        device: &Device,
    ) -> Flow {
        device.seed(seed);
        let model = config.init(device);
        match objective.training_data() {
            Some((train, dim)) => {
                let n = (train.len() / dim).min(4096);
                let x = Tensor::<2>::from_data(
                    TensorData::new(train[..n * dim].to_vec(), [n, dim]),
                    device,
                );
                model.data_init(x)
            }
            None => model,
        }
    }

    /// Continues training `flow` (e.g. a loaded `.flow` file): its weights are kept, no
    /// data-dependent initialisation is run. `device` is the plain (non-autodiff) device.
    pub fn with_flow(
        flow: Flow,
        objective: Objective,
        settings: TrainSettings,
        device: &Device,
    ) -> Result<Self, TrainError> {
        Self::check(flow.config(), &objective, &settings)?;
        let device = device.clone().autodiff();
        device.seed(settings.seed);
        let model = super::optim::trainable_on(flow, &device);
        Ok(Self::from_model(model, objective, settings, device))
    }

    /// Rejects a configuration that cannot train.
    fn check(
        config: &FlowConfig,
        objective: &Objective,
        settings: &TrainSettings,
    ) -> Result<(), TrainError> {
        config.validate()?;
        if settings.batch == 0 || settings.eval_every == 0 {
            return Err(TrainError::Setup(
                "batch and eval_every must be positive".into(),
            ));
        }
        if let Objective::FlowMatching { .. } = objective {
            super::flow_matching::check(config).map_err(TrainError::Setup)?;
        }
        if let Some((train, dim)) = objective.training_data()
            && (dim != config.dim() || train.is_empty())
        {
            return Err(TrainError::Setup(format!(
                "data has dimension {dim} and {} training rows; the flow has dimension {}",
                train.len() / dim.max(1),
                config.dim()
            )));
        }
        Ok(())
    }

    /// A fresh optimiser around `model` (already on the autodiff `device`).
    fn from_model(
        model: Flow,
        objective: Objective,
        settings: TrainSettings,
        device: Device,
    ) -> Self {
        Self {
            optim: GuardedAdam::new(settings.clip_norm, settings.max_consecutive_nan, &model),
            model,
            objective,
            rng: Rng::new(settings.seed),
            settings,
            device,
            step: 0,
            history: History::default(),
            window_loss: 0.0,
            window_steps: 0,
            replicas: None,
        }
    }

    /// Splits each batch over `threads` replicas of the model, each on its own thread (the
    /// CPU backend only; natively). The objectives whose loss is a mean over data rows (forward
    /// KL, regression) give every replica an equal block of the batch's rows and average the
    /// gradients, which is the whole batch's gradient (`src/train/data_parallel.rs`); reverse
    /// KL, a batch size not divisible by `threads`, or `threads ≤ 1` train on one thread.
    ///
    /// For small models this is how a CPU step uses several cores: the backend's own threading
    /// splits single matmuls, which at width 128 costs more than it saves (docs/performance.md),
    /// so the CLI runs its 2D work with one backend thread and these replicas instead.
    pub fn with_cpu_threads(mut self, threads: usize) -> Result<Self, TrainError> {
        self.replicas = if threads > 1 {
            let cpu = self.device.clone().inner();
            Some(Replicas::new(&self.model, &vec![cpu; threads])?)
        } else {
            None
        };
        Ok(self)
    }

    /// How many threads a step's rows are split over (1 without replicas).
    pub fn cpu_threads(&self) -> usize {
        self.replicas.as_ref().map_or(1, Replicas::len)
    }

    /// The learning rate at the current step (linear warm-up).
    pub fn lr(&self) -> f64 {
        super::optim::warmup_lr(self.settings.lr, self.settings.warmup_steps, self.step)
    }

    /// The training device (autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// One optimisation step.
    pub async fn train_step(&mut self) -> Result<StepOutcome, TrainError> {
        let batch = self.settings.batch;
        let splits = self.objective.splits_by_rows();
        let split = self
            .replicas
            .as_mut()
            .filter(|r| splits && batch.is_multiple_of(r.len()))
            .map(|r| {
                // The replicas take the current parameters (`model` is public: a caller may
                // have replaced it since the last step).
                r.broadcast(&self.model);
                &*r
            });
        let rows = split.and_then(|_| self.objective.row_batch(batch, &mut self.rng, &self.device));
        // (loss value, what the update needs)
        let (value, update) = match (split, rows) {
            (Some(replicas), Some(rows)) => {
                let objective = &self.objective;
                let g = replicas.gradients(&self.model, rows, |model: &Flow, shard| ShardLoss {
                    loss: objective.row_loss(model, shard),
                    reported: Vec::new(),
                })?;
                (g.loss as f32, Update::Grads(g.grads))
            }
            _ => {
                let loss = self.objective.loss(
                    &self.model,
                    self.step,
                    self.settings.batch,
                    &mut self.rng,
                    &self.device,
                );
                (
                    scalar_async(loss.clone()).await?,
                    Update::Loss(Box::new(loss)),
                )
            }
        };
        if !value.is_finite() {
            self.history.nan_events.push(self.step);
            let rolled = self.optim.roll_back();
            self.model = self.optim.last_good();
            if let Err(consecutive) = rolled {
                return Err(TrainError::Diverged {
                    step: self.step,
                    consecutive,
                });
            }
            self.step += 1;
            return Ok(StepOutcome::RolledBack);
        }
        let lr = self.lr();
        self.model = match update {
            Update::Loss(loss) => self.optim.update(self.model.clone(), *loss, lr),
            Update::Grads(grads) => self.optim.update_with_grads(self.model.clone(), grads, lr),
        };
        self.step += 1;
        self.window_loss += value as f64;
        self.window_steps += 1;
        Ok(StepOutcome::Updated { loss: value })
    }

    /// Records a history point: mean training loss since the last one and, for forward KL, the
    /// validation NLL.
    pub async fn record(&mut self) -> Result<HistoryPoint, TrainError> {
        let val_nll = match self.objective.validation_rows() {
            Some((val, dim)) => Some(self.mean_nll(val, dim).await?),
            None => None,
        };
        let train_loss =
            (self.window_steps > 0).then(|| self.window_loss / self.window_steps as f64);
        let point = HistoryPoint {
            step: self.step,
            train_loss,
            val_nll,
            lr: self.lr(),
        };
        self.window_loss = 0.0;
        self.window_steps = 0;
        self.history.points.push(point.clone());
        Ok(point)
    }

    /// Records the untrained model's point (forward KL, before the first step), where the loss
    /// curve starts; `None` when there is nothing to record.
    pub async fn record_start(&mut self) -> Result<Option<HistoryPoint>, TrainError> {
        if self.history.points.is_empty() && self.objective.validation_rows().is_some() {
            return self.record().await.map(Some);
        }
        Ok(None)
    }

    /// Whether a history point is due after the step just taken: every `eval_every` steps and
    /// at the last step.
    pub fn record_due(&self) -> bool {
        self.step.is_multiple_of(self.settings.eval_every) || self.step == self.settings.steps
    }

    /// One step, then a history point when one is due ([`Self::record_due`]).
    pub async fn step_and_record(
        &mut self,
    ) -> Result<(StepOutcome, Option<HistoryPoint>), TrainError> {
        let outcome = self.train_step().await?;
        let point = if self.record_due() {
            Some(self.record().await?)
        } else {
            None
        };
        Ok((outcome, point))
    }

    /// The model without gradients, on the inference device.
    pub fn inference_model(&self) -> Flow {
        self.model.valid()
    }

    /// Mean negative log-likelihood (nats) of rows `data [n, dim]` under the current model.
    pub async fn mean_nll(&self, data: &[f32], dim: usize) -> Result<f64, TrainError> {
        let device = self.device.clone().without_autodiff();
        let lp =
            crate::evaluate::log_prob_rows(&self.inference_model(), data, dim, &device).await?;
        Ok(-lp.iter().map(|&v| v as f64).sum::<f64>() / lp.len() as f64)
    }

    /// Monte-Carlo estimate of `E_q[log q + U]` (β = 1) with `n` samples: the reverse-KL loss;
    /// add `log Z` for `KL(q‖p)`.
    pub async fn reverse_kl_estimate(&self, n: usize) -> Result<Option<f64>, TrainError> {
        let Objective::ReverseKl { energy, .. } = &self.objective else {
            return Ok(None);
        };
        let model = self.inference_model();
        let device = self.device.clone().without_autodiff();
        let mut rng = Rng::new(self.settings.seed ^ 0xE5);
        let (x, log_q) = model.sample(n, &mut rng, &device);
        let v = scalar_async((log_q + energy.energy_tensor(x)).mean()).await?;
        Ok(Some(v as f64))
    }

    /// Runs all remaining steps, recording every `eval_every` steps and at the end; `progress`
    /// sees each recorded point. Native only (blocks on the async steps).
    pub fn run_blocking(
        &mut self,
        mut progress: impl FnMut(&Trainer, &HistoryPoint),
    ) -> Result<(), TrainError> {
        pollster::block_on(async {
            if let Some(p) = self.record_start().await? {
                progress(self, &p);
            }
            while self.step < self.settings.steps {
                if let (_, Some(p)) = self.step_and_record().await? {
                    progress(self, &p);
                }
            }
            Ok(())
        })
    }
}
