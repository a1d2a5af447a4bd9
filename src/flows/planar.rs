//! Planar flow (Rezende & Mohamed 2015, "Variational Inference with Normalizing Flows",
//! arXiv:1505.05770, §4.1).
//!
//! Generative direction (noise → data): `x = z + û · tanh(wᵀz + b)`, with
//! `log|det ∂x/∂z| = log|1 + (1 − tanh²(wᵀz + b)) · ûᵀw|`.
//! Invertibility is enforced by the paper's appendix reparameterisation
//! `û = u + (m(wᵀu) − wᵀu) · w/‖w‖²`, `m(a) = −1 + softplus(a)`, which makes `ûᵀw > −1`.
//!
//! Density direction (data → noise) has no closed form: writing `α = wᵀz`, the scalar
//! equation `α + ûᵀw · tanh(α + b) = wᵀx` is monotone in `α` and its root lies within
//! `|ûᵀw|` of `wᵀx`; we bracket it and bisect (`inverse_iters` halvings, so the error is at
//! most `2|ûᵀw| / 2^iters`), then take one Newton step (which squares that error) *with* gradients so that `∂α/∂θ` is
//! the implicit-function gradient. Then `z = x − û tanh(α + b)`.
//!
//! # Shapes
//! `w, u: [1, dim]`, `b: [1]`; inputs `[batch, dim]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, activation::softplus};

use super::Bijection;
use super::LayerSpec;
use super::validate::{dim, in_range};

/// Config of [`Planar`].
#[derive(Config, Debug, PartialEq)]
pub struct PlanarConfig {
    pub dim: usize,
    /// Bisection halvings of the numerical inverse (data → noise).
    #[config(default = 24)]
    pub inverse_iters: usize,
}

impl PlanarConfig {
    pub fn init(&self, device: &Device) -> Planar {
        // Start near the identity: with wᵀu = ln(e − 1), m(wᵀu) = 0, so û = u − (wᵀu) w/‖w‖²
        // vanishes for u ∥ w; a small random part of u breaks the symmetry.
        let w = Tensor::<2>::random([1, self.dim], Distribution::Normal(0.0, 1.0), device)
            .div_scalar((self.dim as f32).sqrt());
        let w_norm2 = w.clone().square().sum();
        let along = w.clone()
            * w_norm2
                .recip()
                .mul_scalar((std::f32::consts::E - 1.0).ln())
                .unsqueeze();
        let noise = Tensor::<2>::random([1, self.dim], Distribution::Normal(0.0, 0.1), device);
        Planar {
            w: Param::from_tensor(w),
            u: Param::from_tensor(along + noise),
            b: Param::from_tensor(Tensor::zeros([1, 1], device)),
            inverse_iters: self.inverse_iters,
        }
    }
}

/// A planar flow layer.
#[derive(Module, Debug)]
pub struct Planar {
    pub w: Param<Tensor<2>>,
    pub u: Param<Tensor<2>>,
    pub b: Param<Tensor<2>>,
    #[module(skip)]
    pub inverse_iters: usize,
}

impl Planar {
    /// `(w [1,d], û [1,d], b [1,1], ûᵀw [1,1])`.
    fn parts(&self) -> (Tensor<2>, Tensor<2>, Tensor<2>, Tensor<2>) {
        let w = self.w.val();
        let u = self.u.val();
        let wtu = (w.clone() * u.clone()).sum_dim(1); // [1,1]
        let m = softplus(wtu.clone(), 1.0).sub_scalar(1.0);
        let w_norm2 = w.clone().square().sum_dim(1).add_scalar(1e-8);
        let u_hat = u + ((m - wtu) / w_norm2) * w.clone();
        let c = (w.clone() * u_hat.clone()).sum_dim(1);
        (w, u_hat, self.b.val(), c)
    }
}

impl Bijection for Planar {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (w, u_hat, b, c) = self.parts();
        let s = (x.clone() * w).sum_dim(1); // wᵀx [batch,1]
        // Detached bisection for α = wᵀz in [s − |c|, s + |c|].
        let (s_d, c_d, b_d) = (s.clone().detach(), c.clone().detach(), b.clone().detach());
        let mut lo = s_d.clone() - c_d.clone().abs();
        let mut hi = s_d.clone() + c_d.clone().abs();
        for _ in 0..self.inverse_iters {
            let mid = (lo.clone() + hi.clone()).mul_scalar(0.5);
            let g = mid.clone() + c_d.clone() * (mid.clone() + b_d.clone()).tanh() - s_d.clone();
            let above = g.greater_elem(0.0);
            hi = hi.mask_where(above.clone(), mid.clone());
            lo = mid.mask_where(above, lo);
        }
        let alpha0 = (lo + hi).mul_scalar(0.5);
        // One Newton step with gradients: value ≈ α0, derivative = implicit-function gradient.
        let t0 = (alpha0.clone() + b.clone()).tanh();
        let g = alpha0.clone() + c.clone() * t0.clone() - s;
        let dg = (t0.square().neg().add_scalar(1.0) * c.clone()).add_scalar(1.0);
        let alpha = alpha0 - g / dg;
        let h = (alpha + b).tanh();
        let z = x - h.clone() * u_hat;
        let det = (h.square().neg().add_scalar(1.0) * c).add_scalar(1.0);
        let logdet = det.abs().log().neg().squeeze_dim::<1>(1);
        (z, logdet)
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (w, u_hat, b, c) = self.parts();
        let h = ((z.clone() * w).sum_dim(1) + b).tanh(); // [batch,1]
        let x = z + h.clone() * u_hat;
        let det = (h.square().neg().add_scalar(1.0) * c).add_scalar(1.0);
        (x, det.abs().log().squeeze_dim::<1>(1))
    }
}

impl LayerSpec for PlanarConfig {
    fn name(&self) -> &'static str {
        "planar"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dim("dim", self.dim)?;
        in_range("inverse iterations", self.inverse_iters, 1, 10_000)
    }

    fn allocation_bound(&self) -> u128 {
        3 * self.dim as u128 + 1
    }
}
