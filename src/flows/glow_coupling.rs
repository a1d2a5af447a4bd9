//! Glow's affine coupling (Kingma & Dhariwal 2018, arXiv:1807.03039, §3.3): the channels split
//! into `x_a` (first `⌈c/2⌉`) and `x_b`; a CNN reads `x_a` and gives `(log-scale, shift)` for
//! `x_b`:
//! `(r, t) = NN(x_a)`, `s = sigmoid(r + 2)`, `z_b = (x_b + t) ⊙ s`, `z_a = x_a`,
//! `log|det| = Σ log s`; inverse `x_b = z_b / s − t`. The sigmoid keeps the scale in (0, 1) and
//! starts it near 0.88 (Glow's code); the CNN's last conv starts at zero.
//!
//! # Shapes
//! `NN: [n, ⌈c/2⌉, h, w] → [n, 2·⌊c/2⌋, h, w]`; rows `[batch, D ≥ c·h·w]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor};

use super::Bijection;
use super::LayerSpec;
use super::image::{ConvNet, ImageShape, on_image, sum_image};
use super::validate::{MAX_CHANNELS, MAX_HIDDEN, in_range, shape};

/// Config of [`GlowCoupling`].
#[derive(Config, Debug, PartialEq)]
pub struct GlowCouplingConfig {
    pub shape: ImageShape,
    /// Channels of the conditioner's hidden layers.
    #[config(default = 64)]
    pub hidden: usize,
}

impl GlowCouplingConfig {
    pub fn init(&self, device: &Device) -> GlowCoupling {
        let c = self.shape.channels;
        assert!(
            c >= 2,
            "Glow coupling needs at least 2 channels (squeeze first)"
        );
        let ca = c.div_ceil(2);
        GlowCoupling {
            net: ConvNet::new(ca, self.hidden, 2 * (c - ca), device),
            shape: self.shape,
        }
    }
}

/// An affine coupling layer with a convolutional conditioner.
#[derive(Module, Debug)]
pub struct GlowCoupling {
    pub net: ConvNet,
    #[module(skip)]
    pub shape: ImageShape,
}

impl GlowCoupling {
    /// `(x_a, x_b, log s, t)`.
    fn split(&self, img: Tensor<4>) -> (Tensor<4>, Tensor<4>, Tensor<4>, Tensor<4>) {
        let c = self.shape.channels;
        let ca = c.div_ceil(2);
        let cb = c - ca;
        let xa = img.clone().narrow(1, 0, ca);
        let xb = img.narrow(1, ca, cb);
        let h = self.net.forward(xa.clone());
        let log_s = log_sigmoid(h.clone().narrow(1, 0, cb).add_scalar(2.0));
        let t = h.narrow(1, cb, cb);
        (xa, xb, log_s, t)
    }
}

impl Bijection for GlowCoupling {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        on_image(x, self.shape, |img| {
            let (xa, xb, log_s, t) = self.split(img);
            let zb = (xb + t) * log_s.clone().exp();
            (Tensor::cat(vec![xa, zb], 1), sum_image(log_s))
        })
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        on_image(z, self.shape, |img| {
            let (za, zb, log_s, t) = self.split(img);
            let xb = zb * log_s.clone().neg().exp() - t;
            (Tensor::cat(vec![za, xb], 1), sum_image(log_s).neg())
        })
    }
}

impl LayerSpec for GlowCouplingConfig {
    fn name(&self) -> &'static str {
        "Glow coupling"
    }

    fn dim(&self) -> usize {
        self.shape.dim()
    }

    fn acts_on_prefix(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), String> {
        shape(&self.shape)?;
        in_range("coupling channels", self.shape.channels, 2, MAX_CHANNELS)?;
        in_range("hidden width", self.hidden, 1, MAX_HIDDEN)
    }

    fn allocation_bound(&self) -> u128 {
        let ch = self.shape.channels;
        let ca = ch.div_ceil(2) as u128;
        let out = 2 * (ch as u128 - ca);
        let h = self.hidden as u128;
        9 * ca * h + h + h * h + h + 9 * h * out + out
    }
}
