//! Radial flow (Rezende & Mohamed 2015, arXiv:1505.05770, §4.1).
//!
//! Generative direction (noise → data): `x = z + β h(r) (z − z₀)`, `r = ‖z − z₀‖`,
//! `h(r) = 1/(α + r)`, with `log|det ∂x/∂z| = (d − 1) log(1 + βh) + log(1 + βh + βh′(r) r)
//! = (d − 1) log(1 + βh) + log(1 + βα/(α + r)²)`. Invertibility: `α = softplus(α′) > 0`,
//! `β = −α + softplus(β′) > −α`.
//!
//! Density direction (data → noise) is closed form: with `ρ = ‖x − z₀‖`, `r` solves
//! `r² + (α + β − ρ) r − αρ = 0`, i.e. `r = ½(−(α + β − ρ) + √((α + β − ρ)² + 4αρ))`, and
//! `z − z₀ = (x − z₀)/(1 + β/(α + r))`.
//!
//! # Shapes
//! `z₀: [1, dim]`, `α′, β′: [1, 1]`; inputs `[batch, dim]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, activation::softplus};

use super::Bijection;
use super::LayerSpec;
use super::validate::dim;

/// Config of [`Radial`].
#[derive(Config, Debug, PartialEq)]
pub struct RadialConfig {
    pub dim: usize,
}

impl RadialConfig {
    pub fn init(&self, device: &Device) -> Radial {
        Radial {
            z0: Param::from_tensor(Tensor::random(
                [1, self.dim],
                Distribution::Normal(0.0, 1.0),
                device,
            )),
            alpha_raw: Param::from_tensor(Tensor::zeros([1, 1], device)),
            beta_raw: Param::from_tensor(Tensor::random(
                [1, 1],
                Distribution::Normal(0.0, 0.1),
                device,
            )),
        }
    }
}

/// A radial flow layer.
#[derive(Module, Debug)]
pub struct Radial {
    pub z0: Param<Tensor<2>>,
    pub alpha_raw: Param<Tensor<2>>,
    pub beta_raw: Param<Tensor<2>>,
}

impl Radial {
    /// `(z₀, α, β)`.
    fn parts(&self) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let alpha = softplus(self.alpha_raw.val(), 1.0).add_scalar(1e-4);
        let beta = softplus(self.beta_raw.val(), 1.0) - alpha.clone();
        (self.z0.val(), alpha, beta)
    }

    /// Generative log-det at radius `r [batch,1]`.
    fn log_det(&self, r: Tensor<2>, alpha: Tensor<2>, beta: Tensor<2>, d: usize) -> Tensor<1> {
        let ar = alpha.clone() + r;
        let bh = beta.clone() / ar.clone();
        let first = bh.add_scalar(1.0).log().mul_scalar((d - 1) as f32);
        let second = (beta * alpha / ar.square()).add_scalar(1.0).log();
        (first + second).squeeze_dim::<1>(1)
    }
}

impl Bijection for Radial {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let d = x.dims()[1];
        let (z0, alpha, beta) = self.parts();
        let diff = x - z0.clone();
        let rho = diff.clone().square().sum_dim(1).add_scalar(1e-12).sqrt();
        let p = alpha.clone() + beta.clone() - rho.clone();
        let r = (p.clone().square() + alpha.clone() * rho.mul_scalar(4.0))
            .sqrt()
            .sub(p)
            .mul_scalar(0.5);
        let scale = (beta.clone() / (alpha.clone() + r.clone())).add_scalar(1.0);
        let z = z0 + diff / scale;
        (z, self.log_det(r, alpha, beta, d).neg())
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let d = z.dims()[1];
        let (z0, alpha, beta) = self.parts();
        let diff = z - z0.clone();
        let r = diff.clone().square().sum_dim(1).add_scalar(1e-12).sqrt();
        let scale = (beta.clone() / (alpha.clone() + r.clone())).add_scalar(1.0);
        let x = z0 + diff * scale;
        (x, self.log_det(r, alpha, beta, d))
    }
}

impl LayerSpec for RadialConfig {
    fn name(&self) -> &'static str {
        "radial"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dim("dim", self.dim)
    }

    fn allocation_bound(&self) -> u128 {
        2 * self.dim as u128 + 2
    }
}
