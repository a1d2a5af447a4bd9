//! Squeeze (Dinh et al. 2017, RealNVP, arXiv:1605.08803, §3.6): every 2×2 block of pixels
//! becomes 4 channels, `(c, h, w) → (4c, h/2, w/2)`. A permutation of the coordinates, so
//! `log|det| = 0`. Channel `4·k + 2·i + j` of the output holds pixel `(2y + i, 2x + j)` of input
//! channel `k`.
//!
//! # Shapes
//! rows `[batch, D ≥ c·h·w]` (image = first `c·h·w` columns, `h`, `w` even), log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::Bijection;
use super::LayerSpec;
use super::image::{ImageShape, on_image};
use super::validate::{MAX_CHANNELS, in_range, shape};

/// Config of [`Squeeze`]; `shape` is the input (unsqueezed) shape.
#[derive(Config, Debug, PartialEq)]
pub struct SqueezeConfig {
    pub shape: ImageShape,
}

impl SqueezeConfig {
    pub fn init(&self, _device: &Device) -> Squeeze {
        Squeeze { shape: self.shape }
    }
}

/// A 2×2 squeeze.
#[derive(Module, Debug)]
pub struct Squeeze {
    #[module(skip)]
    pub shape: ImageShape,
}

/// `[n, c, h, w] → [n, 4c, h/2, w/2]`.
pub fn squeeze(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h / 2, 2, w / 2, 2])
        .permute([0, 1, 3, 5, 2, 4])
        .reshape([n, c * 4, h / 2, w / 2])
}

/// `[n, 4c, h, w] → [n, c, 2h, 2w]`, the inverse of [`squeeze`].
pub fn unsqueeze(z: Tensor<4>) -> Tensor<4> {
    let [n, c4, h, w] = z.dims();
    z.reshape([n, c4 / 4, 2, 2, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([n, c4 / 4, h * 2, w * 2])
}

impl Bijection for Squeeze {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let device = x.device();
        on_image(x, self.shape, |img| {
            (squeeze(img), Tensor::zeros([n], &device))
        })
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        let device = z.device();
        on_image(z, self.shape.squeezed(), |img| {
            (unsqueeze(img), Tensor::zeros([n], &device))
        })
    }
}

impl LayerSpec for SqueezeConfig {
    fn name(&self) -> &'static str {
        "squeeze"
    }

    fn dim(&self) -> usize {
        self.shape.dim()
    }

    fn acts_on_prefix(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), String> {
        shape(&self.shape)?;
        if !self.shape.height.is_multiple_of(2) || !self.shape.width.is_multiple_of(2) {
            return Err(format!(
                "a 2×2 squeeze needs even sides, got {}×{}",
                self.shape.height, self.shape.width
            ));
        }
        in_range(
            "squeezed channels",
            self.shape.channels * 4,
            4,
            MAX_CHANNELS,
        )
    }

    fn allocation_bound(&self) -> u128 {
        0
    }
}
