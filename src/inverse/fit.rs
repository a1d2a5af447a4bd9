//! Training an amortised posterior on simulations: each step draws a fresh batch of pairs
//! `(θ, y)` from the joint `p(θ) p(y | θ)` (the simulator is the data set, so there is nothing
//! to overfit), then one Adam step of the method's loss ([`super::cflow`] or [`super::inn`]),
//! with the NaN guard and gradient clipping of the other trainers.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::problems::Problem;
use super::{cflow, inn};
use crate::flows::{Flow, FlowConfig};
use crate::readback::{scalar_async, to_host, to_host_async};
use crate::rng::Rng;
use crate::train::TrainError;
use crate::train::optim::{GuardedAdam, warmup_lr};

/// How the posterior is learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A conditional flow `q(θ | y)` trained by maximum likelihood.
    Cflow,
    /// Ardizzone et al.'s INN with partitioned outputs `θ ↔ [y, z]` and MMD losses.
    Inn,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cflow" => Ok(Self::Cflow),
            "inn" => Ok(Self::Inn),
            _ => Err(format!("unknown method '{s}' (known: cflow, inn)")),
        }
    }
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cflow => "cflow",
            Self::Inn => "inn",
        }
    }

    /// The network for `problem`.
    pub fn config(self, problem: Problem, layers: usize, hidden: usize) -> FlowConfig {
        match self {
            Self::Cflow => cflow::config(problem, layers, hidden),
            Self::Inn => inn::config(problem, layers, hidden),
        }
    }
}

/// Settings of a posterior fit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FitSettings {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub warmup_steps: usize,
    pub layers: usize,
    pub hidden: usize,
    pub seed: u64,
    /// Observation noise of the simulated training pairs (`None`: the problem's own; `0`: the
    /// noiseless inverse problem, as in the flow_models application).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_std: Option<f64>,
}

impl FitSettings {
    /// The defaults: enough for the figures in the README (minutes on two CPU cores).
    pub fn full() -> Self {
        Self {
            steps: 4000,
            batch: 512,
            lr: 1e-3,
            warmup_steps: 100,
            layers: 6,
            hidden: 64,
            seed: 0,
            noise_std: None,
        }
    }

    /// A run of seconds that still learns something (CI's smoke test of every pair).
    pub fn quick() -> Self {
        Self {
            steps: 150,
            batch: 256,
            layers: 4,
            hidden: 32,
            ..Self::full()
        }
    }
}

/// A posterior being trained.
pub struct PosteriorFit {
    pub problem: Problem,
    pub method: Method,
    pub settings: FitSettings,
    pub model: Flow,
    optim: GuardedAdam,
    rng: Rng,
    device: Device,
    pub step: usize,
}

/// `rows` host values as a `[n, cols]` tensor.
pub(crate) fn tensor(rows: &[f64], cols: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = rows.iter().map(|&x| x as f32).collect();
    let n = v.len() / cols;
    Tensor::from_data(TensorData::new(v, [n, cols]), device)
}

impl PosteriorFit {
    /// A fresh network on the autodiff version of `device`, seeded by `settings.seed`.
    pub fn new(
        problem: Problem,
        method: Method,
        settings: FitSettings,
        device: &Device,
    ) -> Result<Self, TrainError> {
        if settings.batch < 2 || settings.layers == 0 || settings.hidden == 0 {
            return Err(TrainError::Setup(
                "batch must be at least 2, layers and hidden positive".into(),
            ));
        }
        let config = method.config(problem, settings.layers, settings.hidden);
        config.validate()?;
        let device = device.clone().autodiff();
        device.seed(settings.seed);
        let model = config.init(&device);
        Ok(Self {
            optim: GuardedAdam::new(Some(10.0), 20, &model),
            model,
            rng: Rng::new(settings.seed),
            problem,
            method,
            settings,
            device,
            step: 0,
        })
    }

    /// One Adam step on a fresh simulated batch; the batch loss before it (`None` when it was
    /// NaN/Inf and the model was rolled back).
    pub async fn train_step(&mut self) -> Result<Option<f32>, TrainError> {
        let n = self.settings.batch;
        let (d, m) = (self.problem.theta_dim(), self.problem.obs_dim());
        let noise = self.settings.noise_std.unwrap_or(self.problem.noise_std());
        let (theta, y) = self.problem.sample_joint_with(n, noise, &mut self.rng);
        let theta = tensor(&theta, d, &self.device);
        let y = tensor(&y, m, &self.device);
        let loss = match self.method {
            Method::Cflow => cflow::loss(&self.model, theta, y),
            Method::Inn => {
                let prior: Vec<f64> = (0..n)
                    .flat_map(|_| self.problem.sample_prior(&mut self.rng))
                    .collect();
                let prior = tensor(&prior, d, &self.device);
                inn::loss(&self.model, theta, y, prior, &mut self.rng)
            }
        };
        let value = scalar_async(loss.clone()).await?;
        self.step += 1;
        if !value.is_finite() {
            let rolled = self.optim.roll_back();
            self.model = self.optim.last_good();
            return match rolled {
                Ok(_) => Ok(None),
                Err(consecutive) => Err(TrainError::Diverged {
                    step: self.step,
                    consecutive,
                }),
            };
        }
        let lr = self.lr(self.step - 1);
        self.model = self.optim.update(self.model.clone(), loss, lr);
        Ok(Some(value))
    }

    /// The learning rate at `step`: linear warm-up, then a cosine decay to 0 at the last step
    /// (Loshchilov & Hutter 2017). Fresh simulations make every gradient noisy; the decay is
    /// what lets the last steps settle (it halves the KL to the exact linear-Gaussian
    /// posterior against a constant rate in our runs).
    pub fn lr(&self, step: usize) -> f64 {
        let warm = warmup_lr(self.settings.lr, self.settings.warmup_steps, step);
        let t = step as f64 / self.settings.steps.max(1) as f64;
        warm * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }

    /// The trained network on the plain (non-autodiff) device.
    pub fn trained(&self) -> Flow {
        use burn::module::Module;
        self.model.valid()
    }
}

/// `n` posterior draws `[k·n, D]` (host `f64`) for each observation of `ys [k, m]` from a
/// trained `flow` of `method`, with `log q` (`[k·n]`) where the method has one. Blocking:
/// native callers, and the page's CPU backend; the page awaits [`posterior_draws`].
pub fn posterior_samples(
    method: Method,
    flow: &Flow,
    problem: Problem,
    ys: &[f64],
    n: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<(Vec<f64>, Option<Vec<f64>>), crate::readback::ReadbackError> {
    pollster::block_on(posterior_draws(method, flow, problem, ys, n, rng, device))
}

/// [`posterior_samples`], reading the results back asynchronously (any backend, in the page).
pub async fn posterior_draws(
    method: Method,
    flow: &Flow,
    problem: Problem,
    ys: &[f64],
    n: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<(Vec<f64>, Option<Vec<f64>>), crate::readback::ReadbackError> {
    let (d, m) = (problem.theta_dim(), problem.obs_dim());
    let ys: Vec<f32> = ys.iter().map(|&v| v as f32).collect();
    let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    match method {
        Method::Cflow => {
            let (x, log_q) = cflow::sample(flow, &ys, m, n, rng, device);
            let x = to_host_async(x).await?;
            let log_q = to_host_async(log_q).await?;
            Ok((widen(x), Some(widen(log_q))))
        }
        Method::Inn => {
            let x = inn::sample(flow, &ys, m, d, n, rng, device);
            Ok((widen(to_host_async(x).await?), None))
        }
    }
}

/// `log q(θ | y)` of each row of `theta [k, D]` given its observation row of `ys [k, m]`
/// (conditional flows only).
pub fn log_q(
    flow: &Flow,
    problem: Problem,
    theta: &[f64],
    ys: &[f64],
    device: &Device,
) -> Result<Vec<f64>, crate::readback::ReadbackError> {
    let t = tensor(theta, problem.theta_dim(), device);
    let y = tensor(ys, problem.obs_dim(), device);
    let lq = to_host::<f32, 1>(flow.log_prob_given(t, Some(&y)))?;
    Ok(lq.into_iter().map(f64::from).collect())
}
