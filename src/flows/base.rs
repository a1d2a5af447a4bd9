//! Base (latent) distributions: the standard normal and a learnable diagonal Gaussian.
//!
//! `log N(z; μ, diag σ²) = −½ Σ_j [(z_j − μ_j)²/σ_j² + log σ_j² + log 2π]`, shapes `z [batch, dim]`
//! → `[batch]`. Samples are drawn on the host from a seeded [`Rng`] so a seed gives the same
//! samples on every backend.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::sum_rows;
use crate::rng::Rng;

/// `log 2π`.
pub const LOG_2PI: f32 = 1.837_877_1;

/// Which base distribution a flow uses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BaseConfig {
    /// N(0, I).
    StandardNormal { dim: usize },
    /// N(μ, diag σ²) with learnable μ and log σ² (initialised at 0: the standard normal).
    DiagGaussian(DiagGaussianConfig),
}

impl BaseConfig {
    pub fn dim(&self) -> usize {
        match self {
            Self::StandardNormal { dim } => *dim,
            Self::DiagGaussian(c) => c.dim,
        }
    }

    pub fn init(&self, device: &Device) -> Base {
        match self {
            Self::StandardNormal { dim } => Base::StandardNormal(StandardNormal { dim: *dim }),
            Self::DiagGaussian(c) => Base::DiagGaussian(c.init(device)),
        }
    }
}

/// Config of [`DiagGaussian`].
#[derive(Config, Debug, PartialEq)]
pub struct DiagGaussianConfig {
    pub dim: usize,
}

impl DiagGaussianConfig {
    pub fn init(&self, device: &Device) -> DiagGaussian {
        DiagGaussian {
            loc: Param::from_tensor(Tensor::zeros([1, self.dim], device)),
            log_var: Param::from_tensor(Tensor::zeros([1, self.dim], device)),
        }
    }
}

/// The standard normal N(0, I) in `dim` dimensions.
#[derive(Module, Debug)]
pub struct StandardNormal {
    pub dim: usize,
}

/// A diagonal Gaussian with learnable mean `loc [1, dim]` and log-variance `log_var [1, dim]`.
#[derive(Module, Debug)]
pub struct DiagGaussian {
    pub loc: Param<Tensor<2>>,
    pub log_var: Param<Tensor<2>>,
}

/// A base distribution (module enum).
#[derive(Module, Debug)]
pub enum Base {
    StandardNormal(StandardNormal),
    DiagGaussian(DiagGaussian),
}

impl Base {
    pub fn dim(&self) -> usize {
        match self {
            Self::StandardNormal(b) => b.dim,
            Self::DiagGaussian(b) => b.loc.dims()[1],
        }
    }

    /// `log p(z)`, `z [batch, dim]` → `[batch]`.
    pub fn log_prob(&self, z: Tensor<2>) -> Tensor<1> {
        let d = self.dim() as f32;
        match self {
            Self::StandardNormal(_) => {
                sum_rows(z.square().mul_scalar(-0.5)).sub_scalar(0.5 * d * LOG_2PI)
            }
            Self::DiagGaussian(b) => {
                let log_var = b.log_var.val();
                let quad = (z - b.loc.val()).square() * log_var.clone().neg().exp();
                sum_rows((quad + log_var).mul_scalar(-0.5)).sub_scalar(0.5 * d * LOG_2PI)
            }
        }
    }

    /// `n` samples `z = μ + σ ε`, `ε ~ N(0, I)` drawn from `rng`; returns `(z [n, dim], log p(z) [n])`.
    pub fn sample(&self, n: usize, rng: &mut Rng, device: &Device) -> (Tensor<2>, Tensor<1>) {
        let d = self.dim();
        let eps = Tensor::<2>::from_data(TensorData::new(rng.normals_f32(n * d), [n, d]), device);
        self.from_standard(eps)
    }

    /// Maps standard-normal noise `ε [n, dim]` to base samples; returns `(z, log p(z))`.
    pub fn from_standard(&self, eps: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let z = match self {
            Self::StandardNormal(_) => eps,
            Self::DiagGaussian(b) => b.log_var.val().mul_scalar(0.5).exp() * eps + b.loc.val(),
        };
        let lp = self.log_prob(z.clone());
        (z, lp)
    }
}
