//! Self-normalizing layers (Keller, Peters, Jaini, Hoogeboom, Forré & Welling 2021,
//! "Self Normalizing Flows", arXiv:2011.07248).
//!
//! A linear layer `z = W x + b` (fully connected, or a `k×k` "same" convolution) keeps a second
//! set of weights `R` trained to be its inverse. The exact `log|det W|` has the gradient `W⁻ᵀ`,
//! which costs `O(D³)`; SNF replaces it by `Rᵀ` (for a convolution: `R`'s kernel with in/out
//! channels swapped and flipped, times the number of pixel positions where that tap lands),
//! and adds the layer-wise reconstruction loss `‖x − R(W x)‖²` (optionally also
//! `‖z̃ − W(R z̃)‖²`, the "symmetric" form) so that `R → W⁻¹`. Training then costs `O(D²)`
//! per FC layer. The *exact* log-likelihood is still what [`Bijection::forward`] returns (a host
//! LU of the dense `W`, `O(D³)`), used for evaluation; only [`Bijection::forward_train`] uses
//! the self-normalized gradient. The exact baselines of the paper are the same layers with
//! `self_normalized = false` (no `R`; exact gradients).
//!
//! The inverse is exact (a dense solve on the host), not `R`: samples and the property tests do
//! not depend on how well `R` has been trained.
//!
//! # Shapes
//! FC: `W, R: [D, D]` in row-vector form (`z = x W + b`), `b: [1, D]`, acting on the first `D`
//! columns. Conv: `W, R: [c, c, k, k]`, `b: [c]`, acting on the image `(c, h, w)` held in the
//! first `c·h·w` columns. Log-dets and reconstruction losses `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::Bijection;
use super::LayerSpec;
use super::dense::{conv_matrix, dense_logdet, dense_logdet_and_inverse};
use super::image::{
    ImageShape, conv_same, join_prefix, on_image, per_image, split_prefix, sum_image,
};
use super::validate::{dense, dense_conv, kernel_floats};

/// `s − sg(s)`: value 0, gradient that of `s`. How the self-normalized log-det gradient
/// enters a loss without an `O(D³)` value.
fn gradient_only(s: Tensor<1>) -> Tensor<1> {
    s.clone() - s.detach()
}

/// Config of [`SelfNormLinear`].
#[derive(Config, Debug, PartialEq)]
pub struct SelfNormLinearConfig {
    pub dim: usize,
    /// Train with the self-normalized gradient (`false` = the exact baseline, no `R`).
    #[config(default = true)]
    pub self_normalized: bool,
    /// Add the symmetric reconstruction term `‖z̃ − (z̃ R) W‖²`.
    #[config(default = false)]
    pub symmetric: bool,
}

impl SelfNormLinearConfig {
    /// `W = I + N(0, 0.01²)`, `R = I − (W − I)` (its first-order inverse), `b = 0`.
    pub fn init(&self, device: &Device) -> SelfNormLinear {
        let d = self.dim;
        let noise = Tensor::<2>::random([d, d], Distribution::Normal(0.0, 0.01), device);
        let eye = Tensor::<2>::eye(d, device);
        SelfNormLinear {
            weight: Param::from_tensor(eye.clone() + noise.clone()),
            bias: Param::from_tensor(Tensor::zeros([1, d], device)),
            inverse_weight: self
                .self_normalized
                .then(|| Param::from_tensor(eye - noise)),
            symmetric: self.symmetric,
        }
    }
}

/// A fully connected self-normalizing layer (or its exact baseline).
#[derive(Module, Debug)]
pub struct SelfNormLinear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<2>>,
    /// `R ≈ W⁻¹` (self-normalized variant only).
    pub inverse_weight: Option<Param<Tensor<2>>>,
    pub symmetric: bool,
}

impl SelfNormLinear {
    fn split(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        split_prefix(x, self.weight.dims()[0])
    }
}

impl Bijection for SelfNormLinear {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let (x, rest) = self.split(x);
        let ld = dense_logdet(self.weight.val());
        let z = x.matmul(self.weight.val()) + self.bias.val();
        (join_prefix(z, rest), per_image(ld, n))
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        let (z, rest) = self.split(z);
        let (ld, inv) = dense_logdet_and_inverse(self.weight.val().detach());
        let x = (z - self.bias.val()).matmul(inv);
        (join_prefix(x, rest), per_image(ld.neg(), n))
    }

    fn forward_train(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>, Option<Tensor<1>>) {
        let Some(r) = &self.inverse_weight else {
            let (z, ld) = self.forward(x);
            return (z, ld, None);
        };
        let [n, _] = x.dims();
        let (x, rest) = self.split(x);
        let w = self.weight.val();
        let r = r.val();
        let centred = x.clone().matmul(w.clone());
        let z = centred.clone() + self.bias.val();
        // ∂/∂W Σ(W ⊙ sg(Rᵀ)) = Rᵀ ≈ W⁻ᵀ = ∂ log|det W| / ∂W.
        let s = (w.clone() * r.clone().detach().transpose())
            .sum()
            .reshape([1]);
        let mut recon = (x - centred.clone().matmul(r.clone()))
            .square()
            .sum_dim(1)
            .reshape([n]);
        if self.symmetric {
            let zc = centred.detach();
            recon = recon
                + (zc.clone() - zc.matmul(r).matmul(w))
                    .square()
                    .sum_dim(1)
                    .reshape([n]);
        }
        (
            join_prefix(z, rest),
            per_image(gradient_only(s), n),
            Some(recon),
        )
    }
}

/// Config of [`SelfNormConv`].
#[derive(Config, Debug, PartialEq)]
pub struct SelfNormConvConfig {
    pub shape: ImageShape,
    /// Odd kernel size.
    #[config(default = 3)]
    pub kernel: usize,
    /// Train with the self-normalized gradient (`false` = the exact baseline, no `R`).
    #[config(default = true)]
    pub self_normalized: bool,
    #[config(default = false)]
    pub symmetric: bool,
}

impl SelfNormConvConfig {
    /// `W = δ + N(0, 0.01²)` (identity kernel plus noise), `R = δ − noise`, `b = 0`.
    pub fn init(&self, device: &Device) -> SelfNormConv {
        let c = self.shape.channels;
        let k = self.kernel;
        assert!(
            k % 2 == 1,
            "self-normalizing conv needs an odd kernel, got {k}"
        );
        let noise = Tensor::<4>::random([c, c, k, k], Distribution::Normal(0.0, 0.01), device);
        let identity = identity_kernel(c, k, device);
        SelfNormConv {
            weight: Param::from_tensor(identity.clone() + noise.clone()),
            bias: Param::from_tensor(Tensor::zeros([c], device)),
            inverse_weight: self
                .self_normalized
                .then(|| Param::from_tensor(identity - noise)),
            shape: self.shape,
            symmetric: self.symmetric,
        }
    }
}

/// The kernel of the identity map: `δ[o, i, a, b] = 1` iff `o = i` at the centre tap.
pub(crate) fn identity_kernel(c: usize, k: usize, device: &Device) -> Tensor<4> {
    let mut v = vec![0.0f32; c * c * k * k];
    for ch in 0..c {
        v[((ch * c + ch) * k + k / 2) * k + k / 2] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [c, c, k, k]), device)
}

/// How many output positions each tap `(a, b)` of a `k×k` same-conv touches inside an
/// `h×w` image: `(h − |a − k/2|)(w − |b − k/2|)`, as `[1, 1, k, k]`.
fn tap_counts(k: usize, s: ImageShape, device: &Device) -> Tensor<4> {
    let m = (k / 2) as isize;
    let mut v = Vec::with_capacity(k * k);
    for a in 0..k as isize {
        for b in 0..k as isize {
            let rows = (s.height as isize - (a - m).abs()).max(0);
            let cols = (s.width as isize - (b - m).abs()).max(0);
            v.push((rows * cols) as f32);
        }
    }
    Tensor::from_data(TensorData::new(v, [1, 1, k, k]), device)
}

/// A convolutional self-normalizing layer (or its exact baseline).
#[derive(Module, Debug)]
pub struct SelfNormConv {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    pub inverse_weight: Option<Param<Tensor<4>>>,
    #[module(skip)]
    pub shape: ImageShape,
    pub symmetric: bool,
}

impl SelfNormConv {
    fn bias_image(&self) -> Tensor<4> {
        let c = self.shape.channels;
        self.bias.val().reshape([1, c, 1, 1])
    }
}

impl Bijection for SelfNormConv {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let ld = dense_logdet(conv_matrix(self.weight.val(), self.shape));
        on_image(x, self.shape, |img| {
            let z = conv_same(img, self.weight.val(), Some(self.bias.val()));
            (z, per_image(ld, n))
        })
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        let s = self.shape;
        let (ld, inv) = dense_logdet_and_inverse(conv_matrix(self.weight.val().detach(), s));
        on_image(z, s, |img| {
            let centred = (img - self.bias_image()).reshape([n, s.dim()]);
            let x = centred
                .matmul(inv)
                .reshape([n, s.channels, s.height, s.width]);
            (x, per_image(ld.neg(), n))
        })
    }

    fn forward_train(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>, Option<Tensor<1>>) {
        let Some(r) = &self.inverse_weight else {
            let (z, ld) = self.forward(x);
            return (z, ld, None);
        };
        let [n, _] = x.dims();
        let k = self.weight.dims()[2];
        let w = self.weight.val();
        let r = r.val();
        // ∂ log|det W|/∂w[o,i,a,b] = Σ_p (W⁻¹)[(i, p+δ_ab), (o, p)] ≈ count(a,b)·r[i,o,k−1−a,k−1−b].
        let grad = r.clone().detach().swap_dims(0, 1).flip([2, 3])
            * tap_counts(k, self.shape, &w.device());
        let s = (w.clone() * grad).sum().reshape([1]);
        let mut recon = None;
        let (z, _) = on_image(x, self.shape, |img| {
            let centred = conv_same(img.clone(), w.clone(), None);
            let mut err = sum_image((img - conv_same(centred.clone(), r.clone(), None)).square());
            if self.symmetric {
                let zc = centred.clone().detach();
                let back = conv_same(conv_same(zc.clone(), r.clone(), None), w.clone(), None);
                err = err + sum_image((zc - back).square());
            }
            recon = Some(err);
            (centred + self.bias_image(), per_image(s.clone(), n))
        });
        (z, per_image(gradient_only(s), n), recon)
    }
}

impl LayerSpec for SelfNormLinearConfig {
    fn name(&self) -> &'static str {
        if self.self_normalized {
            "self-normalizing FC"
        } else {
            "exact FC"
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn acts_on_prefix(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), String> {
        dense("dim", self.dim)
    }

    fn allocation_bound(&self) -> u128 {
        4 * (self.dim as u128).pow(2) + self.dim as u128
    }
}

impl LayerSpec for SelfNormConvConfig {
    fn name(&self) -> &'static str {
        if self.self_normalized {
            "self-normalizing conv"
        } else {
            "exact conv"
        }
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
        4 * kernel_floats(self.shape.channels, self.kernel) + self.shape.channels as u128
    }
}
