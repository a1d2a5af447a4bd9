//! Invertible 1×1 convolution (Kingma & Dhariwal 2018, Glow, arXiv:1807.03039, §3.2): the same
//! `c×c` matrix mixes the channels at every pixel, `z_{:,y,x} = x_{:,y,x} W + b`,
//! `log|det| = h·w·log|det W|`.
//!
//! - plain: `W` a full matrix ([`NaiveLinear`]: host LU, `O(c³)` per call, exact gradients);
//! - LU: `W = L U` ([`LuLinear`]: `O(c)` log-det, triangular-solve inverse), Glow's fast variant.
//!
//! # Shapes
//! `W: [c, c]`; rows `[batch, D ≥ c·h·w]` (image = first `c·h·w` columns), log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::Bijection;
use super::LayerSpec;
use super::image::{ImageShape, on_image, per_image};
use super::linear::{LuLinear, LuLinearConfig, NaiveLinear, NaiveLinearConfig, SharedLogdet};
use super::validate::shape;

/// Config of [`Conv1x1`].
#[derive(Config, Debug, PartialEq)]
pub struct Conv1x1Config {
    pub shape: ImageShape,
    /// LU-parameterised (Glow's `--LU_decomposed`) instead of a plain matrix.
    #[config(default = true)]
    pub lu: bool,
}

impl Conv1x1Config {
    pub fn init(&self, device: &Device) -> Conv1x1 {
        let c = self.shape.channels;
        Conv1x1 {
            mixer: if self.lu {
                ChannelMixer::Lu(LuLinearConfig::new(c).init(device))
            } else {
                ChannelMixer::Plain(NaiveLinearConfig::new(c).init(device))
            },
            shape: self.shape,
        }
    }
}

/// The `c×c` matrix, plain or LU.
#[derive(Module, Debug)]
pub enum ChannelMixer {
    Plain(NaiveLinear),
    Lu(LuLinear),
}

impl ChannelMixer {
    fn linear(&self) -> &dyn SharedLogdet {
        match self {
            Self::Plain(l) => l,
            Self::Lu(l) => l,
        }
    }
}

/// An invertible 1×1 convolution.
#[derive(Module, Debug)]
pub struct Conv1x1 {
    pub mixer: ChannelMixer,
    #[module(skip)]
    pub shape: ImageShape,
}

impl Conv1x1 {
    /// Applies `map` (the linear layer's forward or inverse, with its log-det once) to every
    /// pixel's channel vector; an image's log-det is `h·w` times the matrix's.
    fn per_pixel(
        &self,
        x: Tensor<2>,
        map: impl Fn(&dyn SharedLogdet, Tensor<2>) -> (Tensor<2>, Tensor<1>),
    ) -> (Tensor<2>, Tensor<1>) {
        on_image(x, self.shape, |img| {
            let [n, c, h, w] = img.dims();
            let pixels = img.permute([0, 2, 3, 1]).reshape([n * h * w, c]);
            let (out, ld) = map(self.mixer.linear(), pixels);
            let out = out.reshape([n, h, w, c]).permute([0, 3, 1, 2]);
            (out, per_image(ld.mul_scalar((h * w) as f32), n))
        })
    }
}

impl Bijection for Conv1x1 {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.per_pixel(x, |l, p| l.forward_shared(p))
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.per_pixel(z, |l, p| l.inverse_shared(p))
    }
}

impl LayerSpec for Conv1x1Config {
    fn name(&self) -> &'static str {
        if self.lu {
            "1×1 conv (LU)"
        } else {
            "1×1 conv"
        }
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
        let c = self.shape.channels as u128;
        3 * c.pow(2) + 2 * c
    }
}
