//! The logit preprocessing of image flows (Dinh et al. 2017, RealNVP, arXiv:1605.08803,
//! §4.1): dequantised pixels `x ∈ (0, 1)` are mapped to `ℝ` by
//! `z = logit(α + (1 − 2α) x)`, so the flow's density is a density on the unit cube and
//! bits/dim can be read off directly. `log|det| = Σ_j [log(1 − 2α) − log y_j − log(1 − y_j)]`
//! with `y = α + (1 − 2α) x`; inverse `x = (sigmoid(z) − α) / (1 − 2α)`.
//!
//! # Shapes
//! rows `[batch, D]` (all columns), log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Tensor};

use super::LayerSpec;
use super::validate::dim;
use super::{Bijection, sum_rows};

/// Config of [`Logit`].
#[derive(Config, Debug, PartialEq)]
pub struct LogitConfig {
    pub dim: usize,
    /// Squeezes the data away from 0 and 1 (RealNVP uses 0.05 on CIFAR, 10⁻⁶ on MNIST).
    #[config(default = 1e-6)]
    pub alpha: f32,
}

impl LogitConfig {
    pub fn init(&self, _device: &Device) -> Logit {
        assert!(
            self.alpha >= 0.0 && self.alpha < 0.5,
            "logit alpha must be in [0, 0.5), got {}",
            self.alpha
        );
        Logit { alpha: self.alpha }
    }
}

/// The logit transform of the unit cube.
#[derive(Module, Debug)]
pub struct Logit {
    pub alpha: f32,
}

impl Bijection for Logit {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let a = self.alpha;
        let y = x.mul_scalar(1.0 - 2.0 * a).add_scalar(a);
        let log_y = y.clone().log();
        let log_1my = y.neg().add_scalar(1.0).log();
        let z = log_y.clone() - log_1my.clone();
        let [_, d] = z.dims();
        let ld = sum_rows(log_y + log_1my)
            .neg()
            .add_scalar(d as f32 * (1.0 - 2.0 * a).ln());
        (z, ld)
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let a = self.alpha;
        let [_, d] = z.dims();
        // log y + log(1 − y) = log σ(z) + log σ(−z).
        let ld = sum_rows(log_sigmoid(z.clone()) + log_sigmoid(z.clone().neg()))
            .add_scalar(-(d as f32) * (1.0 - 2.0 * a).ln());
        let x = sigmoid(z).sub_scalar(a).div_scalar(1.0 - 2.0 * a);
        (x, ld)
    }
}

impl LayerSpec for LogitConfig {
    fn name(&self) -> &'static str {
        "logit"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dim("dim", self.dim)?;
        if (0.0..0.5).contains(&self.alpha) {
            Ok(())
        } else {
            Err(format!(
                "logit alpha must be in [0, 0.5), got {}",
                self.alpha
            ))
        }
    }

    fn allocation_bound(&self) -> u128 {
        0
    }
}
