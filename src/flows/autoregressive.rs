//! Affine autoregressive flows built on [`Made`]:
//! MAF (Papamakarios, Pavlakou & Murray 2017, arXiv:1705.07057) and
//! IAF (Kingma et al. 2016, arXiv:1606.04934).
//!
//! - **MAF** (fast density): data → noise in one pass, `(μ, a) = MADE(x)`,
//!   `z = (x − μ) ⊙ exp(−a)`, `log|det| = −Σ a`; noise → data needs `D` sequential passes.
//! - **IAF** (fast sampling): noise → data in one pass, `(μ, a) = MADE(z)`,
//!   `x = z ⊙ exp(a) + μ`, `log|det| = Σ a`; data → noise needs `D` sequential passes.
//!
//! `a` is soft-clamped to `±scale_clamp`. The sequential direction iterates the fixed point
//! `D` times: after pass `k` the first `k` coordinates are exact, so `D` passes are exact.
//!
//! # Shapes
//! inputs `[batch, D]`, MADE output `[batch, 2D]` = `[μ | a]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::LayerSpec;
use super::made::Made;
use super::validate::{MAX_DENSE_DIM, conditioner, in_range, mlp, positive_finite};
use super::{Bijection, soft_clamp, sum_rows};

/// Which direction is the cheap one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Masked autoregressive flow: one-pass density.
    Maf,
    /// Inverse autoregressive flow: one-pass sampling.
    Iaf,
}

/// Config of [`Autoregressive`].
#[derive(Config, Debug, PartialEq)]
pub struct AutoregressiveConfig {
    pub dim: usize,
    pub direction: Direction,
    #[config(default = 64)]
    pub hidden: usize,
    #[config(default = 2)]
    pub hidden_layers: usize,
    #[config(default = 3.0)]
    pub scale_clamp: f32,
}

impl AutoregressiveConfig {
    pub fn init(&self, device: &Device) -> Autoregressive {
        Autoregressive {
            made: Made::new(self.dim, self.hidden, self.hidden_layers, 2, device),
            maf: self.direction == Direction::Maf,
            scale_clamp: self.scale_clamp,
        }
    }
}

/// An affine MAF or IAF layer.
#[derive(Module, Debug)]
pub struct Autoregressive {
    pub made: Made,
    #[module(skip)]
    pub maf: bool,
    #[module(skip)]
    pub scale_clamp: f32,
}

impl Autoregressive {
    /// `(μ, a)` from MADE(v).
    fn params(&self, v: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let d = v.dims()[1];
        let out = self.made.forward(v);
        let mu = out.clone().narrow(1, 0, d);
        let a = soft_clamp(out.narrow(1, d, d), self.scale_clamp);
        (mu, a)
    }

    /// One-pass normalising direction of MAF: `z = (x − μ(x)) e^{−a(x)}`.
    fn normalise_one_pass(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (mu, a) = self.params(x.clone());
        ((x - mu) * a.clone().neg().exp(), sum_rows(a).neg())
    }

    /// `D`-pass inverse of [`Self::normalise_one_pass`].
    fn denormalise_sequential(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let d = z.dims()[1];
        let mut x = Tensor::zeros_like(&z);
        let mut a_last = Tensor::zeros_like(&z);
        for _ in 0..d {
            let (mu, a) = self.params(x);
            x = z.clone() * a.clone().exp() + mu;
            a_last = a;
        }
        (x, sum_rows(a_last))
    }

    /// One-pass generative direction of IAF: `x = z e^{a(z)} + μ(z)`.
    fn denormalise_one_pass(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (mu, a) = self.params(z.clone());
        (z * a.clone().exp() + mu, sum_rows(a))
    }

    /// `D`-pass inverse of [`Self::denormalise_one_pass`].
    fn normalise_sequential(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let d = x.dims()[1];
        let mut z = Tensor::zeros_like(&x);
        let mut a_last = Tensor::zeros_like(&x);
        for _ in 0..d {
            let (mu, a) = self.params(z);
            z = (x.clone() - mu) * a.clone().neg().exp();
            a_last = a;
        }
        (z, sum_rows(a_last).neg())
    }
}

impl Bijection for Autoregressive {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        if self.maf {
            self.normalise_one_pass(x)
        } else {
            self.normalise_sequential(x)
        }
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        if self.maf {
            self.denormalise_sequential(z)
        } else {
            self.denormalise_one_pass(z)
        }
    }
}

impl LayerSpec for AutoregressiveConfig {
    fn name(&self) -> &'static str {
        match self.direction {
            Direction::Maf => "MAF",
            Direction::Iaf => "IAF",
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        in_range("dim", self.dim, 2, MAX_DENSE_DIM)?;
        conditioner(self.hidden, self.hidden_layers)?;
        positive_finite("scale clamp", self.scale_clamp)
    }

    fn allocation_bound(&self) -> u128 {
        // Weights and their masks.
        let d = self.dim as u128;
        2 * mlp(d, self.hidden as u128, self.hidden_layers as u128, 2 * d)
    }
}
