//! Split prior (Dinh et al. 2017, RealNVP, §3.6; Kingma & Dhariwal 2018, Glow, §3 "split"):
//! the last `⌊c/2⌋` channels `x_b` leave the flow here, modelled by a Gaussian whose mean and
//! log-std a conv reads from the kept channels `x_a`:
//! `(μ, log σ) = Conv3×3(x_a)`, `z_b = (x_b − μ) ⊙ exp(−log σ)`, `log|det| = −Σ log σ`.
//! With a standard normal base on `z_b` this is exactly `log N(x_b; μ(x_a), σ(x_a)²)`; later
//! layers act only on `x_a` (the first `⌈c/2⌉·h·w` columns). The conv starts at zero
//! (`μ = 0`, `σ = 1`); `log σ` is soft-clamped to ±5.
//!
//! # Shapes
//! `Conv: [n, ⌈c/2⌉, h, w] → [n, 2·⌊c/2⌋, h, w]`; rows `[batch, D ≥ c·h·w]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::LayerSpec;
use super::image::{Conv, ImageShape, on_image, sum_image};
use super::validate::{MAX_CHANNELS, in_range, shape};
use super::{Bijection, soft_clamp};

/// Config of [`SplitPrior`]; `shape` is the shape before the split.
#[derive(Config, Debug, PartialEq)]
pub struct SplitPriorConfig {
    pub shape: ImageShape,
}

impl SplitPriorConfig {
    pub fn init(&self, device: &Device) -> SplitPrior {
        let c = self.shape.channels;
        assert!(c >= 2, "a split needs at least 2 channels");
        let ca = c.div_ceil(2);
        SplitPrior {
            conv: Conv::zeros(ca, 2 * (c - ca), 3, device),
            shape: self.shape,
        }
    }

    /// The shape later layers act on.
    pub fn kept(&self) -> ImageShape {
        ImageShape::new(
            self.shape.channels.div_ceil(2),
            self.shape.height,
            self.shape.width,
        )
    }
}

/// A learned conditional Gaussian prior for the factored-out half.
#[derive(Module, Debug)]
pub struct SplitPrior {
    pub conv: Conv,
    #[module(skip)]
    pub shape: ImageShape,
}

impl SplitPrior {
    fn parts(&self, img: Tensor<4>) -> (Tensor<4>, Tensor<4>, Tensor<4>, Tensor<4>) {
        let c = self.shape.channels;
        let ca = c.div_ceil(2);
        let cb = c - ca;
        let xa = img.clone().narrow(1, 0, ca);
        let xb = img.narrow(1, ca, cb);
        let h = self.conv.forward(xa.clone());
        let mu = h.clone().narrow(1, 0, cb);
        let log_sigma = soft_clamp(h.narrow(1, cb, cb), 5.0);
        (xa, xb, mu, log_sigma)
    }
}

impl Bijection for SplitPrior {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        on_image(x, self.shape, |img| {
            let (xa, xb, mu, log_sigma) = self.parts(img);
            let zb = (xb - mu) * log_sigma.clone().neg().exp();
            (Tensor::cat(vec![xa, zb], 1), sum_image(log_sigma).neg())
        })
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        on_image(z, self.shape, |img| {
            let (za, zb, mu, log_sigma) = self.parts(img);
            let xb = zb * log_sigma.clone().exp() + mu;
            (Tensor::cat(vec![za, xb], 1), sum_image(log_sigma))
        })
    }
}

impl LayerSpec for SplitPriorConfig {
    fn name(&self) -> &'static str {
        "split prior"
    }

    fn dim(&self) -> usize {
        self.shape.dim()
    }

    fn acts_on_prefix(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), String> {
        shape(&self.shape)?;
        in_range("split channels", self.shape.channels, 2, MAX_CHANNELS)
    }

    fn allocation_bound(&self) -> u128 {
        let ch = self.shape.channels;
        let ca = ch.div_ceil(2) as u128;
        let out = 2 * (ch as u128 - ca);
        9 * ca * out + out
    }
}
