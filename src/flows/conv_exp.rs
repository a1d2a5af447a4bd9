//! The convolution exponential (Hoogeboom, Garcia Satorras, Tomczak & Welling 2020,
//! arXiv:2006.01910): `z = exp(M) x + b = Σ_{k≥0} Mᵏx / k! + b`, where `M` is a "same" `k×k`
//! convolution. Exactly invertible with `x = exp(−M)(z − b)`, and
//! `log|det exp(M)| = tr M = h·w·Σ_c m[c, c, centre]` (`O(c)`, exact).
//!
//! The series is summed to a fixed number of terms. To keep it accurate the kernel is
//! rescaled so that the bound `‖M‖₂ ≤ k·‖m‖_F` stays below `norm_bound`
//! (`m ← m / max(1, k‖m‖_F / norm_bound)`): with the defaults (0.9, 12 terms) the truncation
//! error is below `0.9¹³/13! ≈ 4·10⁻¹¹` relative.
//!
//! # Shapes
//! `m: [c, c, k, k]`, `b: [c]`; rows `[batch, D ≥ c·h·w]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::Bijection;
use super::LayerSpec;
use super::image::{ImageShape, conv_same, on_image, per_image};
use super::selfnorm::identity_kernel;
use super::validate::{in_range, kernel_floats, odd_kernel, positive_finite, shape};

/// Config of [`ConvExp`].
#[derive(Config, Debug, PartialEq)]
pub struct ConvExpConfig {
    pub shape: ImageShape,
    #[config(default = 3)]
    pub kernel: usize,
    #[config(default = 12)]
    pub terms: usize,
    #[config(default = 0.9)]
    pub norm_bound: f32,
}

impl ConvExpConfig {
    /// `m ~ N(0, 0.05²)`, `b = 0`.
    pub fn init(&self, device: &Device) -> ConvExp {
        let (c, k) = (self.shape.channels, self.kernel);
        assert!(k % 2 == 1, "conv exponential needs an odd kernel, got {k}");
        ConvExp {
            kernel: Param::from_tensor(Tensor::random(
                [c, c, k, k],
                Distribution::Normal(0.0, 0.05),
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([c], device)),
            terms: self.terms,
            norm_bound: self.norm_bound,
            shape: self.shape,
        }
    }
}

/// A convolution exponential layer.
#[derive(Module, Debug)]
pub struct ConvExp {
    pub kernel: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    pub terms: usize,
    pub norm_bound: f32,
    #[module(skip)]
    pub shape: ImageShape,
}

impl ConvExp {
    /// The rescaled kernel.
    fn kernel(&self) -> Tensor<4> {
        let m = self.kernel.val();
        let k = m.dims()[2] as f32;
        let norm = m.clone().square().sum().sqrt();
        let factor = norm.mul_scalar(k / self.norm_bound).clamp_min(1.0);
        m / factor.reshape([1, 1, 1, 1])
    }

    /// `exp(±M) x` by the truncated series.
    fn exp_apply(&self, x: Tensor<4>, m: Tensor<4>) -> Tensor<4> {
        let mut term = x.clone();
        let mut sum = x;
        for k in 1..=self.terms {
            term = conv_same(term, m.clone(), None).div_scalar(k as f32);
            sum = sum + term.clone();
        }
        sum
    }

    /// `tr M = h·w·Σ_c m[c,c,centre]`, `[1]`.
    fn trace(&self, m: Tensor<4>) -> Tensor<1> {
        let [c, _, k, _] = m.dims();
        (m * identity_kernel(c, k, &self.kernel.device()))
            .sum()
            .mul_scalar(self.shape.positions() as f32)
            .reshape([1])
    }
}

impl Bijection for ConvExp {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let m = self.kernel();
        let c = self.shape.channels;
        on_image(x, self.shape, |img| {
            let z = self.exp_apply(img, m.clone()) + self.bias.val().reshape([1, c, 1, 1]);
            (z, per_image(self.trace(m), n))
        })
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        let m = self.kernel();
        let c = self.shape.channels;
        on_image(z, self.shape, |img| {
            let centred = img - self.bias.val().reshape([1, c, 1, 1]);
            let x = self.exp_apply(centred, m.clone().neg());
            (x, per_image(self.trace(m).neg(), n))
        })
    }
}

impl LayerSpec for ConvExpConfig {
    fn name(&self) -> &'static str {
        "conv exponential"
    }

    fn dim(&self) -> usize {
        self.shape.dim()
    }

    fn acts_on_prefix(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), String> {
        shape(&self.shape)?;
        odd_kernel(self.kernel)?;
        in_range("series terms", self.terms, 1, 100)?;
        positive_finite("norm bound", self.norm_bound)
    }

    fn allocation_bound(&self) -> u128 {
        2 * kernel_floats(self.shape.channels, self.kernel) + self.shape.channels as u128
    }
}
