//! Emerging convolution (Hoogeboom, van den Berg & Welling 2019, arXiv:1901.11137): a `k×k`
//! convolution built as two masked ("autoregressive") convolutions, `z = K₂ ⋆ (K₁ ⋆ x) + b`.
//! `K₁` only reads pixels before the output pixel in raster order (and, at the centre tap,
//! channels `i ≤ o`), `K₂` only pixels after it (channels `i ≥ o`), so each is triangular and
//! `log|det| = h·w·Σ_c (log|K₁[c,c,centre]| + log|K₂[c,c,centre]|)`, exact and `O(c)`.
//! Together their receptive field is the full `(2k−1)×(2k−1)` neighbourhood. The inverse here
//! solves the two dense triangular systems on the host (`O(D³)` once per call; the paper's
//! autoregressive back-substitution is the same arithmetic).
//!
//! # Shapes
//! `K₁, K₂: [c, c, k, k]`, `b: [c]`; rows `[batch, D ≥ c·h·w]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::Bijection;
use super::LayerSpec;
use super::dense::{conv_matrix, dense_logdet_and_inverse};
use super::image::{ImageShape, conv_same, on_image, per_image};
use super::selfnorm::identity_kernel;
use super::validate::{dense_conv, kernel_floats};

/// Config of [`EmergingConv`].
#[derive(Config, Debug, PartialEq)]
pub struct EmergingConvConfig {
    pub shape: ImageShape,
    /// Odd kernel size of each masked convolution.
    #[config(default = 3)]
    pub kernel: usize,
}

/// The mask of a causal (`later = false`) or anti-causal (`later = true`) `k×k` kernel.
fn causal_mask(c: usize, k: usize, later: bool, device: &Device) -> Tensor<4> {
    let m = k / 2;
    let mut v = vec![0.0f32; c * c * k * k];
    for o in 0..c {
        for i in 0..c {
            for a in 0..k {
                for b in 0..k {
                    let before = a < m || (a == m && b < m);
                    let after = a > m || (a == m && b > m);
                    let centre = a == m && b == m;
                    let keep = if later {
                        after || (centre && i >= o)
                    } else {
                        before || (centre && i <= o)
                    };
                    if keep {
                        v[((o * c + i) * k + a) * k + b] = 1.0;
                    }
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [c, c, k, k]), device)
}

impl EmergingConvConfig {
    /// Both kernels start at the identity plus `N(0, 0.01²)` noise inside their masks.
    pub fn init(&self, device: &Device) -> EmergingConv {
        let (c, k) = (self.shape.channels, self.kernel);
        assert!(k % 2 == 1, "emerging conv needs an odd kernel, got {k}");
        let kernel = |later| {
            let mask = causal_mask(c, k, later, device);
            let noise = Tensor::<4>::random([c, c, k, k], Distribution::Normal(0.0, 0.01), device);
            Param::from_tensor(identity_kernel(c, k, device) + noise * mask)
        };
        EmergingConv {
            first: kernel(false),
            second: kernel(true),
            bias: Param::from_tensor(Tensor::zeros([c], device)),
            first_mask: causal_mask(c, k, false, device),
            second_mask: causal_mask(c, k, true, device),
            shape: self.shape,
        }
    }
}

/// An emerging convolution.
#[derive(Module, Debug)]
pub struct EmergingConv {
    pub first: Param<Tensor<4>>,
    pub second: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    first_mask: Tensor<4>,
    second_mask: Tensor<4>,
    #[module(skip)]
    pub shape: ImageShape,
}

impl EmergingConv {
    fn kernels(&self) -> (Tensor<4>, Tensor<4>) {
        (
            self.first.val() * self.first_mask.clone(),
            self.second.val() * self.second_mask.clone(),
        )
    }

    /// `h·w·Σ_c log|K[c,c,centre]|` for both kernels, `[1]`.
    fn logdet(&self) -> Tensor<1> {
        let (k1, k2) = self.kernels();
        let [c, _, k, _] = k1.dims();
        let device = k1.device();
        let diag = identity_kernel(c, k, &device);
        let centre = |kern: Tensor<4>| {
            // Off-diagonal entries become 1 so their log is 0.
            let d = kern * diag.clone() + diag.clone().neg().add_scalar(1.0);
            d.abs().log().sum()
        };
        (centre(k1) + centre(k2))
            .mul_scalar(self.shape.positions() as f32)
            .reshape([1])
    }
}

impl Bijection for EmergingConv {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let (k1, k2) = self.kernels();
        on_image(x, self.shape, |img| {
            let z = conv_same(conv_same(img, k1, None), k2, Some(self.bias.val()));
            (z, per_image(self.logdet(), n))
        })
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        let s = self.shape;
        let (k1, k2) = self.kernels();
        let (_, inv1) = dense_logdet_and_inverse(conv_matrix(k1.detach(), s));
        let (_, inv2) = dense_logdet_and_inverse(conv_matrix(k2.detach(), s));
        on_image(z, s, |img| {
            let c = s.channels;
            let centred = (img - self.bias.val().reshape([1, c, 1, 1])).reshape([n, s.dim()]);
            let x = centred
                .matmul(inv2)
                .matmul(inv1)
                .reshape([n, c, s.height, s.width]);
            (x, per_image(self.logdet().neg(), n))
        })
    }
}

impl LayerSpec for EmergingConvConfig {
    fn name(&self) -> &'static str {
        "emerging conv"
    }

    fn dim(&self) -> usize {
        self.shape.dim()
    }

    fn acts_on_prefix(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), String> {
        dense_conv(&self.shape, self.kernel)
    }

    fn allocation_bound(&self) -> u128 {
        8 * kernel_floats(self.shape.channels, self.kernel) + self.shape.channels as u128
    }
}
