//! Activation normalisation (Kingma & Dhariwal 2018, Glow, arXiv:1807.03039, §3.1):
//! a per-dimension affine map `z = (x + b) ⊙ exp(s)`, `log|det| = Σ_j s_j`, whose parameters
//! are set from the first batch ([`ActNorm::data_init`]) so its outputs have zero mean and unit
//! variance, then trained freely. Inverse `x = z ⊙ exp(−s) − b`.
//!
//! # Shapes
//! `b, s: [1, D]`; inputs `[batch, D]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::Bijection;
use super::LayerSpec;
use super::validate::dim;

/// Config of [`ActNorm`].
#[derive(Config, Debug, PartialEq)]
pub struct ActNormConfig {
    pub dim: usize,
}

impl ActNormConfig {
    pub fn init(&self, device: &Device) -> ActNorm {
        ActNorm {
            bias: Param::from_tensor(Tensor::zeros([1, self.dim], device)),
            log_scale: Param::from_tensor(Tensor::zeros([1, self.dim], device)),
        }
    }
}

/// An ActNorm layer.
#[derive(Module, Debug)]
pub struct ActNorm {
    pub bias: Param<Tensor<2>>,
    pub log_scale: Param<Tensor<2>>,
}

impl Bijection for ActNorm {
    /// Sets `b = −mean(x)`, `s = −log std(x)` from a batch `x [batch, D]`.
    fn data_init(self, x: Tensor<2>) -> Self {
        let x = x.detach();
        let mean = x.clone().mean_dim(0);
        let std = (x - mean.clone())
            .square()
            .mean_dim(0)
            .add_scalar(1e-6)
            .sqrt();
        Self {
            bias: Param::from_tensor(mean.neg()),
            log_scale: Param::from_tensor(std.log().neg()),
        }
    }

    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let s = self.log_scale.val();
        let z = (x + self.bias.val()) * s.clone().exp();
        (z, s.sum().reshape([1]).repeat_dim(0, n))
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        let s = self.log_scale.val();
        let x = z * s.clone().neg().exp() - self.bias.val();
        (x, s.sum().neg().reshape([1]).repeat_dim(0, n))
    }
}

impl LayerSpec for ActNormConfig {
    fn name(&self) -> &'static str {
        "actnorm"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dim("dim", self.dim)
    }

    fn allocation_bound(&self) -> u128 {
        2 * self.dim as u128
    }
}
