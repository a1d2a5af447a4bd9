//! Per-channel activation normalisation for images (Kingma & Dhariwal 2018, Glow,
//! arXiv:1807.03039, §3.1): `z = (x + b_c) ⊙ exp(s_c)` at every pixel,
//! `log|det| = h·w·Σ_c s_c`; `b`, `s` are set from the first batch ([`ActNorm2d::data_init`]) so
//! each channel starts with zero mean and unit variance. Inverse `x = z ⊙ exp(−s_c) − b_c`.
//!
//! # Shapes
//! `b, s: [1, c, 1, 1]`; rows `[batch, D ≥ c·h·w]` (the image is their first `c·h·w` columns),
//! log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::Bijection;
use super::LayerSpec;
use super::image::{ImageShape, on_image, per_image, take_image};
use super::validate::shape;

/// Config of [`ActNorm2d`].
#[derive(Config, Debug, PartialEq)]
pub struct ActNorm2dConfig {
    pub shape: ImageShape,
}

impl ActNorm2dConfig {
    pub fn init(&self, device: &Device) -> ActNorm2d {
        let c = self.shape.channels;
        ActNorm2d {
            bias: Param::from_tensor(Tensor::zeros([1, c, 1, 1], device)),
            log_scale: Param::from_tensor(Tensor::zeros([1, c, 1, 1], device)),
            shape: self.shape,
        }
    }
}

/// A per-channel ActNorm layer.
#[derive(Module, Debug)]
pub struct ActNorm2d {
    pub bias: Param<Tensor<4>>,
    pub log_scale: Param<Tensor<4>>,
    #[module(skip)]
    pub shape: ImageShape,
}

impl ActNorm2d {
    /// `h·w·Σ_c s_c`, repeated for `n` images.
    fn logdet(&self, n: usize) -> Tensor<1> {
        let s = self
            .log_scale
            .val()
            .sum()
            .mul_scalar(self.shape.positions() as f32);
        per_image(s, n)
    }
}

impl Bijection for ActNorm2d {
    /// Sets `b = −mean`, `s = −log std` per channel from rows `x [batch, D]`.
    fn data_init(self, x: Tensor<2>) -> Self {
        let (img, _) = take_image(x.detach(), self.shape);
        let mean = img.clone().mean_dim(0).mean_dim(2).mean_dim(3);
        let var = (img - mean.clone())
            .square()
            .mean_dim(0)
            .mean_dim(2)
            .mean_dim(3);
        let std = var.add_scalar(1e-6).sqrt();
        Self {
            bias: Param::from_tensor(mean.neg()),
            log_scale: Param::from_tensor(std.log().neg()),
            shape: self.shape,
        }
    }

    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        on_image(x, self.shape, |img| {
            let z = (img + self.bias.val()) * self.log_scale.val().exp();
            (z, self.logdet(n))
        })
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        on_image(z, self.shape, |img| {
            let x = img * self.log_scale.val().neg().exp() - self.bias.val();
            (x, self.logdet(n).neg())
        })
    }
}

impl LayerSpec for ActNorm2dConfig {
    fn name(&self) -> &'static str {
        "actnorm (per channel)"
    }

    fn dim(&self) -> usize {
        self.shape.dim()
    }

    fn acts_on_prefix(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), String> {
        shape(&self.shape)
    }

    fn allocation_bound(&self) -> u128 {
        2 * self.shape.channels as u128
    }
}
