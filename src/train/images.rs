//! Training image flows: one optimisation step on a dequantised batch, exact evaluation in
//! bits/dim, and GECO.
//!
//! The loss of a step is `(−log p(x) + λ·Σ_layers ‖x − R(W x)‖²) / (D ln 2)` averaged over the
//! batch, i.e. bits/dim up to the constant 8, where `log p` comes from
//! [`Flow::log_prob_train`]: exact for ordinary layers, the self-normalized gradient for SNF
//! layers (whose log-det values are left out of the *reported* training loss; evaluation is
//! always exact). `λ` is fixed, or adapted by GECO (Rezende & Viola 2018, arXiv:1810.00597):
//! minimise the NLL subject to `recon ≤ κ`, with the multiplier updated as
//! `λ ← λ·exp(η·Ĉ)` from a moving average `Ĉ` of the constraint `recon − κ`.
//!
//! Adam with linear warm-up and clipping, and the same NaN/Inf guard as the 2D trainer: a bad
//! loss restores the parameters before the last update and resets Adam.
//! Synchronous readbacks: native (and the CPU backend) only.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::data_parallel::{Replicas, ShardLoss, Update};
use super::optim::GuardedAdam;
use crate::flows::{Flow, FlowConfig};
use crate::images::{ImageSet, bits_per_dim, dequantize_batch};
use crate::rng::Rng;

/// GECO's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GecoSettings {
    /// Tolerance `κ` on the per-image reconstruction loss.
    pub tolerance: f64,
    /// Multiplier learning rate `η`.
    pub rate: f64,
    /// Moving-average factor of the constraint.
    pub momentum: f64,
}

/// Optimiser and schedule of an image run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageTrainSettings {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub warmup_steps: usize,
    pub clip_norm: Option<f32>,
    /// Weight `λ` of the reconstruction loss (initial multiplier under GECO).
    pub lambda: f64,
    pub geco: Option<GecoSettings>,
    /// Evaluate (validation bits/dim, checkpoint, sample grid) every this many epochs.
    pub eval_every: usize,
    /// Validation images held out from the end of the training split.
    pub val_images: usize,
    /// Use at most this many training images (`None`: all).
    pub train_images: Option<usize>,
    /// Stop after this many steps in total (`None`: run all epochs).
    pub max_steps: Option<usize>,
    pub seed: u64,
    /// Stop with [`TrainError::Diverged`] after this many NaN/Inf losses in a row.
    #[serde(default = "default_max_consecutive_bad")]
    pub max_consecutive_bad: usize,
}

fn default_max_consecutive_bad() -> usize {
    20
}

impl Default for ImageTrainSettings {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch: 64,
            lr: 1e-3,
            warmup_steps: 200,
            clip_norm: Some(50.0),
            lambda: 1.0,
            geco: None,
            eval_every: 1,
            val_images: 2000,
            train_images: None,
            max_steps: None,
            seed: 0,
            max_consecutive_bad: default_max_consecutive_bad(),
        }
    }
}

impl ImageTrainSettings {
    /// The settings can train: a positive batch, epoch count and evaluation interval, a positive
    /// finite learning rate, a finite non-negative `λ`, a positive clipping norm. The error names
    /// the first that is not (a hand-edited or damaged `state.json` reaches here too).
    pub fn check(&self) -> Result<(), String> {
        if self.batch == 0 || self.eval_every == 0 || self.epochs == 0 {
            return Err(format!(
                "batch, eval_every and epochs must be positive (batch {}, eval_every {}, epochs {})",
                self.batch, self.eval_every, self.epochs
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!(
                "the learning rate must be positive and finite, got {}",
                self.lr
            ));
        }
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            return Err(format!("λ must be finite and ≥ 0, got {}", self.lambda));
        }
        if let Some(c) = self.clip_norm
            && !(c > 0.0 && c.is_finite())
        {
            return Err(format!(
                "the clipping norm must be positive and finite, got {c}"
            ));
        }
        if let Some(g) = &self.geco
            && ![g.tolerance, g.rate, g.momentum]
                .iter()
                .all(|v| v.is_finite())
        {
            return Err("the GECO settings must be finite".into());
        }
        Ok(())
    }
}

/// What one step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageStep {
    /// The training loss in bits/dim (SNF layers' log-dets left out, see the module docs).
    pub loss_bpd: f64,
    /// Mean per-image reconstruction loss of the self-normalizing layers (0 without them).
    pub recon: f64,
    /// The reconstruction weight used.
    pub lambda: f64,
    /// A hybrid model's mean label NLL `−log p(y | x)` in nats (`None` without a label head).
    pub label_nll: Option<f64>,
    pub rolled_back: bool,
}

/// A flow being trained on images.
pub struct ImageTrainer {
    pub model: Flow,
    optim: GuardedAdam,
    pub settings: ImageTrainSettings,
    device: Device,
    pub rng: Rng,
    pub step: usize,
    /// The step the learning rate's warm-up counts from: 0, or the step a run resumed at
    /// without Adam's moments (fresh moments at the full rate would throw the model off its
    /// optimum: +0.24 bits/dim in 8 steps of a resumed `glow_mnist_gpu`).
    pub warmup_start: usize,
    pub lambda: f64,
    geco_average: Option<f64>,
    /// Replicas on further devices (data parallel), if any.
    replicas: Option<Replicas>,
}

impl ImageTrainer {
    /// A fresh model on the autodiff version of `device`; ActNorm layers are initialised on a
    /// batch of (up to) 256 training images.
    pub fn new(
        config: &FlowConfig,
        settings: ImageTrainSettings,
        train: &ImageSet,
        device: &Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        if config.dim() != train.shape.dim() {
            return Err(TrainError::Setup(format!(
                "the flow models {} values per image, the data has {} ({})",
                config.dim(),
                train.shape.dim(),
                train.shape
            )));
        }
        if settings.batch == 0 || train.is_empty() {
            return Err(TrainError::Setup(
                "need a positive batch size and some training images".into(),
            ));
        }
        let device = device.clone().autodiff();
        device.seed(settings.seed);
        let mut rng = Rng::new(settings.seed);
        let n = train.len().min(256);
        let idx: Vec<usize> = (0..n).collect();
        let x = dequantize_batch(train, &idx, Some(&mut rng), &device);
        let model = config.init(&device).data_init(x);
        Ok(Self::from_model(model, settings, device, rng))
    }

    /// Continues training a loaded flow (weights kept, no data-dependent init).
    pub fn resume(flow: Flow, settings: ImageTrainSettings, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = super::optim::trainable_on(flow, &device);
        let rng = Rng::new(settings.seed);
        Self::from_model(model, settings, device, rng)
    }

    fn from_model(model: Flow, settings: ImageTrainSettings, device: Device, rng: Rng) -> Self {
        Self {
            optim: GuardedAdam::new(settings.clip_norm, settings.max_consecutive_bad, &model),
            model,
            lambda: settings.lambda,
            settings,
            device,
            rng,
            step: 0,
            warmup_start: 0,
            geco_average: None,
            replicas: None,
        }
    }

    /// Adam's state (moments and step counts), keyed by the ids of [`Self::param_ids`].
    pub fn optimizer_record(&self) -> burn::optim::OptimizerRecord {
        self.optim.to_record()
    }

    /// Restores Adam's state saved by [`Self::optimizer_record`] (the model's parameter ids must
    /// be the saved ones: see [`super::params::with_param_ids`]).
    pub fn load_optimizer(&mut self, record: burn::optim::OptimizerRecord) {
        self.optim.load_record(record);
    }

    /// The ids of the model's parameters in visiting order.
    pub fn param_ids(&self) -> Vec<u64> {
        super::params::param_ids(&self.model)
    }

    /// The learning rate at the current step (linear warm-up from [`Self::warmup_start`]).
    pub fn lr(&self) -> f64 {
        let since = self.step.saturating_sub(self.warmup_start);
        super::optim::warmup_lr(self.settings.lr, self.settings.warmup_steps, since)
    }

    /// Trains data-parallel over `devices` from now on: each batch is split evenly over them
    /// (the first is this trainer's own device; see [`super::data_parallel`]).
    pub fn with_devices(mut self, devices: &[Device]) -> Result<Self, TrainError> {
        let config = self.model.config();
        if devices.len() > 1 && (config.classes().is_some() || config.head.is_some()) {
            return Err(TrainError::Setup(
                "class-conditional and hybrid flows train on one device (the replicas do not split \
                 the labels)"
                    .into(),
            ));
        }
        if devices.len() > 1 {
            if !self.settings.batch.is_multiple_of(devices.len()) {
                return Err(TrainError::Setup(format!(
                    "a batch of {} cannot be split evenly over {} devices: use a multiple of {}",
                    self.settings.batch,
                    devices.len(),
                    devices.len()
                )));
            }
            self.replicas = Some(Replicas::new(&self.model, devices)?);
        }
        Ok(self)
    }

    /// Number of devices a step runs on.
    pub fn device_count(&self) -> usize {
        self.replicas.as_ref().map_or(1, Replicas::len)
    }

    /// One step on images `indices` of `set` (freshly dequantised).
    pub fn train_step(
        &mut self,
        set: &ImageSet,
        indices: &[usize],
    ) -> Result<ImageStep, TrainError> {
        let d = set.shape.dim() as f64;
        let x = dequantize_batch(set, indices, Some(&mut self.rng), &self.device);
        let lambda = self.lambda;
        let config = self.model.config();
        let labels = config
            .classes()
            .or(config.head_classes())
            .map(|k| crate::images::labels::one_hot_of(set, indices, k, &self.device));
        let loss_fn = |model: &Flow, x| step_loss(model, x, labels.as_ref(), lambda, d);
        // (loss value, reconstruction value, label NLL, what the update needs)
        let (value, recon_value, label_nll, update) = match &self.replicas {
            None => {
                let (ShardLoss { loss, reported }, label_nll) = loss_fn(&self.model, x);
                let recon = reported
                    .into_iter()
                    .next()
                    .map_or(0.0, crate::readback::scalar);
                let label_nll = label_nll.map(crate::readback::scalar);
                let value = crate::readback::scalar(loss.clone());
                (value, recon, label_nll, Update::Loss(Box::new(loss)))
            }
            Some(replicas) => {
                let g = replicas.gradients(&self.model, x, |m: &Flow, x| loss_fn(m, x).0)?;
                let recon = g.reported.first().copied().unwrap_or(0.0);
                (g.loss, recon, None, Update::Grads(g.grads))
            }
        };
        let label_weight = config.head.map_or(0.0, |h| h.label_weight);
        if !value.is_finite() {
            let rolled = self.optim.roll_back();
            self.model = self.optim.last_good();
            if let Some(r) = &mut self.replicas {
                r.broadcast(&self.model);
            }
            self.step += 1;
            if let Err(consecutive) = rolled {
                return Err(TrainError::Diverged {
                    step: self.step,
                    consecutive,
                });
            }
            return Ok(ImageStep {
                loss_bpd: f64::NAN,
                recon: recon_value,
                lambda,
                label_nll,
                rolled_back: true,
            });
        }
        let lr = self.lr();
        self.model = match update {
            Update::Loss(loss) => self.optim.update(self.model.clone(), *loss, lr),
            Update::Grads(grads) => self.optim.update_with_grads(self.model.clone(), grads, lr),
        };
        if let Some(r) = &mut self.replicas {
            r.broadcast(&self.model);
        }
        self.step += 1;
        if let Some(geco) = &self.settings.geco {
            let c = recon_value - geco.tolerance;
            let avg = match self.geco_average {
                None => c,
                Some(a) => geco.momentum * a + (1.0 - geco.momentum) * c,
            };
            self.geco_average = Some(avg);
            self.lambda = (self.lambda * (geco.rate * avg).exp()).clamp(1e-6, 1e6);
        }
        Ok(ImageStep {
            loss_bpd: value
                - (recon_value * lambda) / (d * std::f64::consts::LN_2)
                - label_weight * label_nll.unwrap_or(0.0)
                + 8.0,
            recon: recon_value,
            lambda,
            label_nll,
            rolled_back: false,
        })
    }

    /// The model without gradients, on the plain device.
    pub fn inference_model(&self) -> Flow {
        self.model.valid()
    }
}

/// A step's loss on a block of images `x` (`[B, D]`): `(−log p(x) + λ·recon) / (D ln 2)`
/// averaged over the block, reporting the mean reconstruction loss of the self-normalizing
/// layers when there are any. A hybrid model ([`crate::flows::label_head`]) adds
/// `β·(−log p(y | x))` with `labels` one-hot `[B, K]`, and returns that label NLL's mean too.
fn step_loss(
    model: &Flow,
    x: burn::tensor::Tensor<2>,
    labels: Option<&burn::tensor::Tensor<2>>,
    lambda: f64,
    d: f64,
) -> (ShardLoss, Option<burn::tensor::Tensor<1>>) {
    let (log_p, recon, label_nll) = match (&model.config().head, labels) {
        (Some(_), Some(y)) => {
            let (log_p, recon, log_py) = model.hybrid_train(x);
            let nll = log_py.map(|l| (l * y.clone()).sum_dim(1).squeeze_dim::<1>(1).mean().neg());
            (log_p, recon, nll)
        }
        _ => {
            let (log_p, recon) = model.log_prob_train_given(x, labels);
            (log_p, recon, None)
        }
    };
    let nll = log_p.mean().neg();
    let (loss, reported) = match recon {
        Some(r) => {
            let r = r.mean();
            (nll + r.clone().mul_scalar(lambda), vec![r])
        }
        None => (nll, Vec::new()),
    };
    let mut loss = loss.div_scalar((d * std::f64::consts::LN_2) as f32);
    if let (Some(head), Some(l)) = (&model.config().head, &label_nll) {
        loss = loss + l.clone().mul_scalar(head.label_weight);
    }
    (ShardLoss { loss, reported }, label_nll)
}

/// A hybrid model's labels on `set`: `(accuracy, mean −log p(y | x) in nats)`, pixel centres,
/// in chunks of `chunk` images (`None` without a label head).
pub fn evaluate_labels(
    flow: &Flow,
    set: &ImageSet,
    chunk: usize,
    device: &Device,
) -> Result<Option<(f64, f64)>, TrainError> {
    if flow.head.is_none() {
        return Ok(None);
    }
    let (mut correct, mut nll) = (0usize, 0.0);
    let indices: Vec<usize> = (0..set.len()).collect();
    for batch in indices.chunks(chunk.max(1)) {
        let x = dequantize_batch(set, batch, None, device);
        let Some(log_py) = flow.log_prob_and_labels(x).1 else {
            return Ok(None);
        };
        let k = log_py.dims()[1];
        let lp = crate::readback::to_host::<f64, 2>(log_py)?;
        for (row, &i) in lp.chunks(k).zip(batch) {
            let y = set.labels[i] as usize;
            let best = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            correct += usize::from(best == y);
            nll -= row.get(y).copied().unwrap_or(f64::NEG_INFINITY);
        }
    }
    let n = set.len().max(1) as f64;
    Ok(Some((correct as f64 / n, nll / n)))
}

/// Exact evaluation: mean bits/dim over `set` (pixel centres + fixed-seed uniform noise),
/// in chunks of `chunk` images. A class-conditional flow is scored given each image's own
/// label, `−log p(x | y)` (its marginal `p(x)` is [`crate::explore::classify`]'s).
pub fn evaluate_bpd(
    flow: &Flow,
    set: &ImageSet,
    chunk: usize,
    device: &Device,
) -> Result<f64, TrainError> {
    evaluate_bpd_with_progress(flow, set, chunk, device, |_, _| {})
}

/// [`evaluate_bpd`], calling `progress(images done, total)` after each chunk.
pub fn evaluate_bpd_with_progress(
    flow: &Flow,
    set: &ImageSet,
    chunk: usize,
    device: &Device,
    mut progress: impl FnMut(usize, usize),
) -> Result<f64, TrainError> {
    let d = set.shape.dim();
    if flow.dim() != d {
        return Err(TrainError::Setup(format!(
            "the model has {} values per image, the data {} ({})",
            flow.dim(),
            d,
            set.shape
        )));
    }
    let mut rng = Rng::new(0xE7A1);
    let mut total = 0.0;
    let mut count = 0usize;
    let indices: Vec<usize> = (0..set.len()).collect();
    for batch in indices.chunks(chunk.max(1)) {
        let x = dequantize_batch(set, batch, Some(&mut rng), device);
        let labels = flow
            .config()
            .classes()
            .map(|k| crate::images::labels::one_hot_of(set, batch, k, device));
        let lp = crate::readback::to_host::<f64, 1>(flow.log_prob_given(x, labels.as_ref()))?;
        for v in lp {
            total += bits_per_dim(v, d);
            count += 1;
        }
        progress(count, set.len());
    }
    Ok(total / count.max(1) as f64)
}
