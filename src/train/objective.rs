//! Training objectives, each a Monte-Carlo loss on one batch.
//!
//! - Forward KL `KL(p‖q) = −E_p[log q(x)] + const`: maximum likelihood on data samples.
//! - Reverse KL `KL(q‖p) = E_q[log q(x) + β U(x)] + log Z` against an energy `U` (Rezende &
//!   Mohamed 2015), with β annealed from `beta0` to 1 over `anneal_steps` (normflows' schedule).
//! - Regression `E[(log q(x) − log p(x))²]` onto known log-densities at given points (mbank's
//!   `ll_mse`).
//! - Conditional flow matching for a continuous flow ([`super::flow_matching`]): the velocity
//!   regressed onto straight paths from base draws to data points; validated, like forward KL,
//!   by the exact NLL of the held-out rows.

use burn::tensor::{Device, Tensor, TensorData};

use crate::flows::Flow;
use crate::rng::Rng;
use crate::targets::Energy;

/// What the flow is trained to match.
#[derive(Clone, Debug)]
pub enum Objective {
    /// Maximum likelihood on `train` (`[n, dim]` row-major); `val` is the held-out split.
    ForwardKl {
        dim: usize,
        train: Vec<f32>,
        val: Vec<f32>,
    },
    /// Reverse KL against `energy`, β annealed linearly from `beta0` to 1.
    ReverseKl {
        energy: Energy,
        beta0: f64,
        anneal_steps: usize,
        /// `log Z` of `exp(−U)` (grid quadrature), to report `KL = loss + log Z`.
        log_normalizer: f64,
    },
    /// Flow matching on `train` (`[n, dim]` row-major); `val` is the held-out split, scored by
    /// its NLL like forward KL's.
    FlowMatching {
        dim: usize,
        train: Vec<f32>,
        val: Vec<f32>,
        pairing: super::flow_matching::Pairing,
    },
    /// Regression of `log q` onto `log_density` at `points`.
    Regression {
        dim: usize,
        points: Vec<f32>,
        log_density: Vec<f32>,
    },
}

impl Objective {
    /// Forward KL on `data` with the last `val_fraction` of the rows held out.
    pub fn forward_kl(dim: usize, data: Vec<f32>, val_fraction: f64) -> Self {
        let n = data.len() / dim;
        let n_val = ((n as f64 * val_fraction).round() as usize).clamp(1, n.saturating_sub(1));
        let split = (n - n_val) * dim;
        Self::ForwardKl {
            dim,
            val: data[split..].to_vec(),
            train: data[..split].to_vec(),
        }
    }

    /// Forward KL on `data`, or flow matching with `pairing` when one is given: the same
    /// training/validation split either way.
    pub fn on_samples(
        dim: usize,
        data: Vec<f32>,
        val_fraction: f64,
        pairing: Option<super::flow_matching::Pairing>,
    ) -> Self {
        match pairing {
            Some(p) => Self::flow_matching(dim, data, val_fraction, p),
            None => Self::forward_kl(dim, data, val_fraction),
        }
    }

    /// The same split of `data` as [`Self::forward_kl`], trained by flow matching.
    pub fn flow_matching(
        dim: usize,
        data: Vec<f32>,
        val_fraction: f64,
        pairing: super::flow_matching::Pairing,
    ) -> Self {
        match Self::forward_kl(dim, data, val_fraction) {
            Self::ForwardKl { dim, train, val } => Self::FlowMatching {
                dim,
                train,
                val,
                pairing,
            },
            _ => unreachable!("forward_kl builds a forward KL"),
        }
    }

    /// The held-out rows scored by their NLL (forward KL and flow matching) and their width.
    pub fn validation_rows(&self) -> Option<(&[f32], usize)> {
        match self {
            Self::ForwardKl { dim, val, .. } | Self::FlowMatching { dim, val, .. } => {
                Some((val, *dim))
            }
            _ => None,
        }
    }

    /// The training rows that data-dependent layers (ActNorm) are initialised on.
    pub fn training_data(&self) -> Option<(&[f32], usize)> {
        match self {
            Self::ForwardKl { dim, train, .. } | Self::FlowMatching { dim, train, .. } => {
                Some((train, *dim))
            }
            _ => None,
        }
    }

    /// The rows the model is fitted to: the training split of a forward KL, a regression's
    /// points; none for an energy.
    pub fn fitted_rows(&self) -> &[f32] {
        match self {
            Self::ForwardKl { train, .. } | Self::FlowMatching { train, .. } => train,
            Self::Regression { points, .. } => points,
            _ => &[],
        }
    }

    pub fn reverse_kl(energy: Energy, beta0: f64, anneal_steps: usize) -> Self {
        Self::ReverseKl {
            energy,
            beta0,
            anneal_steps,
            log_normalizer: energy.log_normalizer(400),
        }
    }

    /// β at `step` (1 for objectives without annealing).
    pub fn beta(&self, step: usize) -> f64 {
        match self {
            Self::ReverseKl {
                beta0,
                anneal_steps,
                ..
            } if *anneal_steps > 0 => {
                (beta0 + (1.0 - beta0) * step as f64 / *anneal_steps as f64).min(1.0)
            }
            _ => 1.0,
        }
    }

    /// A training batch drawn from `rng` as one tensor of rows, for the objectives whose loss
    /// is a mean over data rows: forward KL `[B, D]` (the points), regression `[B, D + 1]`
    /// (each point with its target log-density last). `None` for reverse KL, whose batch is
    /// drawn from the model; flow matching `[B, 2D + 1]` ([`super::flow_matching::rows`]). A
    /// block of these rows is a batch in its own right, which is what data-parallel training
    /// splits ([`super::Trainer::with_cpu_threads`]).
    pub fn row_batch(&self, batch: usize, rng: &mut Rng, device: &Device) -> Option<Tensor<2>> {
        let (data, targets, dim) = match self {
            Self::ForwardKl { dim, train, .. } | Self::FlowMatching { dim, train, .. } => {
                (train, None, *dim)
            }
            Self::Regression {
                dim,
                points,
                log_density,
            } => (points, Some(log_density), *dim),
            Self::ReverseKl { .. } => return None,
        };
        let n = data.len() / dim;
        let mut width = dim + usize::from(targets.is_some());
        let mut rows = Vec::with_capacity(batch * width);
        for _ in 0..batch {
            let i = rng.below(n);
            rows.extend_from_slice(&data[i * dim..(i + 1) * dim]);
            if let Some(t) = targets {
                rows.push(t[i]);
            }
        }
        // Flow matching pairs each point with a base draw and a time.
        if let Self::FlowMatching { pairing, .. } = self {
            rows = super::flow_matching::rows(&rows, dim, *pairing, rng);
            width = 2 * dim + 1;
        }
        Some(Tensor::from_data(
            TensorData::new(rows, [batch, width]),
            device,
        ))
    }

    /// Whether the loss is a mean over data rows ([`Self::row_batch`] gives `Some`).
    pub fn splits_by_rows(&self) -> bool {
        !matches!(self, Self::ReverseKl { .. })
    }

    /// The loss of `model` on rows from [`Self::row_batch`] (a mean over the rows).
    pub fn row_loss(&self, model: &Flow, rows: Tensor<2>) -> Tensor<1> {
        match self {
            Self::Regression { dim, .. } => {
                let [b, _] = rows.dims();
                let x = rows.clone().slice([0..b, 0..*dim]);
                let t = rows.slice([0..b, *dim..*dim + 1]).reshape([b]);
                (model.log_prob(x) - t).square().mean()
            }
            Self::FlowMatching { .. } => super::flow_matching::loss(model, rows),
            _ => model.log_prob(rows).mean().neg(),
        }
    }

    /// The scalar loss of `model` on one batch drawn from `rng`.
    pub fn loss(
        &self,
        model: &Flow,
        step: usize,
        batch: usize,
        rng: &mut Rng,
        device: &Device,
    ) -> Tensor<1> {
        match self {
            Self::ReverseKl { energy, .. } => {
                let (x, log_q) = model.sample(batch, rng, device);
                let u = energy.energy_tensor(x);
                (log_q + u.mul_scalar(self.beta(step) as f32)).mean()
            }
            _ => {
                let rows = self.row_batch(batch, rng, device).expect("a row objective");
                self.row_loss(model, rows)
            }
        }
    }
}
