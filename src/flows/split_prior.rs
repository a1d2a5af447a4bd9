//! Split prior (Dinh et al. 2017, RealNVP, §3.6; Kingma & Dhariwal 2018, Glow, §3 "split"):
//! the last `⌊c/2⌋` channels `x_b` leave the flow here, modelled by a Gaussian whose mean and
//! log-std a conv reads from the kept channels `x_a`:
//! `(μ, log σ) = Conv3×3(x_a)`, `z_b = (x_b − μ) ⊙ exp(−log σ)`, `log|det| = −Σ log σ`.
//! With a standard normal base on `z_b` this is exactly `log N(x_b; μ(x_a), σ(x_a)²)`; later
//! layers act only on `x_a` (the first `⌈c/2⌉·h·w` columns). The conv starts at zero
//! (`μ = 0`, `σ = 1`); `log σ` is soft-clamped to ±5.
//!
//! Class-conditional (`classes = K > 0`; Glow's class-conditional prior, Kingma & Dhariwal
//! 2018, §5 and its code's `ycond`, applied at every level as in FlowGMM, Izmailov et al. 2020):
//! the context is a one-hot label `y [n, K]` and each class adds its own learned map to the
//! conv's output, `(μ, log σ) = Conv3×3(x_a) + reshape(y · B)`, `B [K, 2·⌊c/2⌋·h·w]` (zeros at
//! first), so `p(x_b | x_a, y)` is a different Gaussian per class.
//!
//! # Shapes
//! `Conv: [n, ⌈c/2⌉, h, w] → [n, 2·⌊c/2⌋, h, w]`; rows `[batch, D ≥ c·h·w]`, context `[batch, K]`,
//! log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::LayerSpec;
use super::image::{Conv, ImageShape, on_image, sum_image};
use super::validate::{MAX_CHANNELS, MAX_CONTEXT, in_range, shape};
use super::{Bijection, soft_clamp};

/// Config of [`SplitPrior`]; `shape` is the shape before the split.
#[derive(Config, Debug, PartialEq)]
pub struct SplitPriorConfig {
    pub shape: ImageShape,
    /// `K`: a class-conditional prior reading a one-hot label of `K` classes (none:
    /// unconditional; an `Option` so that files written before it existed still load).
    pub classes: Option<usize>,
}

impl SplitPriorConfig {
    pub fn init(&self, device: &Device) -> SplitPrior {
        let c = self.shape.channels;
        assert!(c >= 2, "a split needs at least 2 channels");
        let ca = c.div_ceil(2);
        let out = 2 * (c - ca) * self.shape.height * self.shape.width;
        SplitPrior {
            conv: Conv::zeros(ca, 2 * (c - ca), 3, device),
            class_bias: self
                .classes
                .filter(|&k| k > 0)
                .map(|k| Param::from_tensor(Tensor::zeros([k, out], device))),
            shape: self.shape,
            classes: self.classes.unwrap_or(0),
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
    /// `B [K, 2·⌊c/2⌋·h·w]` of a class-conditional prior.
    pub class_bias: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub shape: ImageShape,
    #[module(skip)]
    pub classes: usize,
}

impl SplitPrior {
    fn parts(
        &self,
        img: Tensor<4>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<4>, Tensor<4>, Tensor<4>, Tensor<4>) {
        let c = self.shape.channels;
        let ca = c.div_ceil(2);
        let cb = c - ca;
        let xa = img.clone().narrow(1, 0, ca);
        let xb = img.narrow(1, ca, cb);
        let mut h = self.conv.forward(xa.clone());
        if let Some(bias) = &self.class_bias {
            let [n, _, height, width] = h.dims();
            let y = match context {
                Some(y) => y.clone(),
                None => Tensor::zeros([n, self.classes], &h.device()),
            };
            h = h + y.matmul(bias.val()).reshape([n, 2 * cb, height, width]);
        }
        let mu = h.clone().narrow(1, 0, cb);
        let log_sigma = soft_clamp(h.narrow(1, cb, cb), 5.0);
        (xa, xb, mu, log_sigma)
    }
}

impl Bijection for SplitPrior {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.forward_given(x, None)
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.inverse_given(z, None)
    }

    fn forward_given(&self, x: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        on_image(x, self.shape, |img| {
            let (xa, xb, mu, log_sigma) = self.parts(img, context);
            let zb = (xb - mu) * log_sigma.clone().neg().exp();
            (Tensor::cat(vec![xa, zb], 1), sum_image(log_sigma).neg())
        })
    }

    fn inverse_given(&self, z: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        on_image(z, self.shape, |img| {
            let (za, zb, mu, log_sigma) = self.parts(img, context);
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

    fn context(&self) -> usize {
        self.classes.unwrap_or(0)
    }

    fn check(&self) -> Result<(), String> {
        shape(&self.shape)?;
        in_range("split channels", self.shape.channels, 2, MAX_CHANNELS)?;
        in_range("classes", self.classes.unwrap_or(0), 0, MAX_CONTEXT)
    }

    fn allocation_bound(&self) -> u128 {
        let ch = self.shape.channels;
        let ca = ch.div_ceil(2) as u128;
        let out = 2 * (ch as u128 - ca);
        let per_class = out * (self.shape.height * self.shape.width) as u128;
        9 * ca * out + out + self.classes.unwrap_or(0) as u128 * per_class
    }
}
