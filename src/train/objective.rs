//! Training objectives, each a Monte-Carlo loss on one batch.
//!
//! - Forward KL `KL(p‖q) = −E_p[log q(x)] + const`: maximum likelihood on data samples.
//! - Reverse KL `KL(q‖p) = E_q[log q(x) + β U(x)] + log Z` against an energy `U` (Rezende &
//!   Mohamed 2015), with β annealed from `beta0` to 1 over `anneal_steps` (normflows' schedule).
//! - Regression `E[(log q(x) − log p(x))²]` onto known log-densities at given points (mbank's
//!   `ll_mse`).

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

    /// A training batch of data rows (forward KL / regression), as `(x, target log-density)`.
    fn rows(
        data: &[f32],
        targets: Option<&[f32]>,
        dim: usize,
        batch: usize,
        rng: &mut Rng,
        device: &Device,
    ) -> (Tensor<2>, Option<Tensor<1>>) {
        let n = data.len() / dim;
        let mut x = Vec::with_capacity(batch * dim);
        let mut t = Vec::with_capacity(batch);
        for _ in 0..batch {
            let i = rng.below(n);
            x.extend_from_slice(&data[i * dim..(i + 1) * dim]);
            if let Some(tg) = targets {
                t.push(tg[i]);
            }
        }
        let x = Tensor::from_data(TensorData::new(x, [batch, dim]), device);
        let t = targets.map(|_| Tensor::from_data(TensorData::new(t, [batch]), device));
        (x, t)
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
            Self::ForwardKl { dim, train, .. } => {
                let (x, _) = Self::rows(train, None, *dim, batch, rng, device);
                model.log_prob(x).mean().neg()
            }
            Self::ReverseKl { energy, .. } => {
                let (x, log_q) = model.sample(batch, rng, device);
                let u = energy.energy_tensor(x);
                (log_q + u.mul_scalar(self.beta(step) as f32)).mean()
            }
            Self::Regression {
                dim,
                points,
                log_density,
            } => {
                let (x, t) = Self::rows(points, Some(log_density), *dim, batch, rng, device);
                (model.log_prob(x) - t.expect("targets")).square().mean()
            }
        }
    }
}
