//! Autoregressive flows built on [`Made`]: MAF (Papamakarios, Pavlakou & Murray 2017,
//! arXiv:1705.07057) and IAF (Kingma et al. 2016, arXiv:1606.04934), each with an affine or a
//! rational-quadratic spline transformer (the autoregressive Neural Spline Flow: Durkan et al.
//! 2019, arXiv:1906.04032, §3.3), optionally conditioned on a context `c`.
//!
//! Every coordinate goes through an elementwise map `T(·; θ_i)` whose parameters `θ_i` come
//! from MADE, so they depend only on earlier coordinates (and on `c`):
//! - affine: `T(v) = (v − μ) ⊙ exp(−a)`, `log|T'| = −a` (`a` soft-clamped to `±scale_clamp`);
//! - spline: `T(v)` = the monotone RQ spline with `K` bins on `[−B, B]` ([`rq_spline`]).
//!
//! - **MAF** (fast density): data → noise in one pass, `θ = MADE(x, c)`, `z = T(x; θ)`;
//!   noise → data needs `D` sequential passes `x ← T⁻¹(z; MADE(x, c))`.
//! - **IAF** (fast sampling): noise → data in one pass, `θ = MADE(z, c)`, `x = T⁻¹(z; θ)`;
//!   data → noise needs `D` sequential passes `z ← T(x; MADE(z, c))`.
//!
//! After sequential pass `k` the first `k` coordinates are exact, so `D` passes are exact; the
//! log-det is the last pass's `Σ_i log|T'_i|` (or its negative).
//!
//! # Shapes
//! inputs `[batch, D]`, context `[batch, C]`; MADE output `[batch, P·D]` in `P` blocks of `D`
//! (affine `P = 2`: `[μ | a]`; spline `P = 3K − 1`, reordered to the `[batch, D, P]` layout
//! [`rq_spline`] reads); log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::LayerSpec;
use super::made::Made;
use super::masked_coupling::Transformer;
use super::rq_spline::rq_spline;
use super::validate::{
    MAX_BINS, MAX_CONTEXT, MAX_DENSE_DIM, conditioner, in_range, mlp, positive_finite,
};
use super::{Bijection, context_or_zeros, soft_clamp, sum_rows};

/// Which direction is the cheap one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Masked autoregressive flow: one-pass density.
    Maf,
    /// Inverse autoregressive flow: one-pass sampling.
    Iaf,
}

/// The elementwise map of an autoregressive layer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArTransform {
    /// `T(v) = (v − μ) e^{−a}`.
    Affine,
    /// A rational-quadratic spline with `bins` bins on `[−tail_bound, tail_bound]`.
    Spline { bins: usize, tail_bound: f32 },
}

impl ArTransform {
    /// Numbers MADE produces per coordinate.
    fn params_per_dim(self) -> usize {
        match self {
            Self::Affine => 2,
            Self::Spline { bins, .. } => (3 * bins).saturating_sub(1),
        }
    }
}

/// Config of [`Autoregressive`].
#[derive(Config, Debug, PartialEq)]
pub struct AutoregressiveConfig {
    pub dim: usize,
    pub direction: Direction,
    #[config(default = 64)]
    pub hidden: usize,
    #[config(default = 2)]
    pub hidden_layers: usize,
    #[config(default = 3.0)]
    pub scale_clamp: f32,
    /// The elementwise map (none: affine; an `Option` so that files written before splines
    /// existed still load).
    pub transform: Option<ArTransform>,
    /// Size `C` of the context MADE reads (none: unconditional).
    pub context: Option<usize>,
}

impl AutoregressiveConfig {
    fn map(&self) -> ArTransform {
        self.transform.unwrap_or(ArTransform::Affine)
    }
}

impl AutoregressiveConfig {
    pub fn init(&self, device: &Device) -> Autoregressive {
        let p = self.map().params_per_dim();
        Autoregressive {
            made: Made::new(
                self.dim,
                self.context.unwrap_or(0),
                self.hidden,
                self.hidden_layers,
                p,
                device,
            ),
            maf: self.direction == Direction::Maf,
            scale_clamp: self.scale_clamp,
            spline: match self.map() {
                ArTransform::Affine => None,
                ArTransform::Spline { bins, tail_bound } => Some((bins, tail_bound)),
            },
            context: self.context.unwrap_or(0),
        }
    }
}

/// An autoregressive (MAF or IAF) layer, affine or spline.
#[derive(Module, Debug)]
pub struct Autoregressive {
    pub made: Made,
    #[module(skip)]
    pub maf: bool,
    #[module(skip)]
    pub scale_clamp: f32,
    /// `(bins, tail bound)` of the spline transformer; `None` for affine.
    #[module(skip)]
    pub spline: Option<(usize, f32)>,
    #[module(skip)]
    pub context: usize,
}

/// `T` (or `T⁻¹` when `inverse`) of every coordinate, with its elementwise log-derivative.
impl Transformer for Autoregressive {
    fn transform(
        &self,
        theta: Tensor<2>,
        v: Tensor<2>,
        inverse: bool,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        let [n, d] = v.dims();
        match self.spline {
            None => {
                let mu = theta.clone().narrow(1, 0, d);
                let a = soft_clamp(theta.narrow(1, d, d), self.scale_clamp);
                if inverse {
                    (v * a.clone().exp() + mu, Some(a))
                } else {
                    ((v - mu) * a.clone().neg().exp(), Some(a.neg()))
                }
            }
            Some((bins, bound)) => {
                // MADE's `[P blocks of D]` → the spline's `[D, P]` per row.
                let p = 3 * bins - 1;
                let theta = theta.reshape([n, p, d]).swap_dims(1, 2).reshape([n, d * p]);
                let (y, ld) = rq_spline(theta, v, bins, bound, inverse);
                (y, Some(ld))
            }
        }
    }
}

impl Autoregressive {
    /// `θ = MADE([v, c])`.
    fn params(&self, v: Tensor<2>, context: Option<&Tensor<2>>) -> Tensor<2> {
        if self.context == 0 {
            return self.made.forward(v);
        }
        let c = context_or_zeros(context, &v, self.context);
        self.made.forward(Tensor::cat(vec![v, c], 1))
    }

    /// `(y, Σ log|T'|)` of `T` (or `T⁻¹`) with parameters from `MADE(source)`.
    fn step(
        &self,
        source: Tensor<2>,
        v: Tensor<2>,
        context: Option<&Tensor<2>>,
        inverse: bool,
    ) -> (Tensor<2>, Tensor<1>) {
        let theta = self.params(source, context);
        let (y, ld) = self.transform(theta, v, inverse);
        let ld = ld.expect("autoregressive transformers report their log-derivative");
        (y, sum_rows(ld))
    }

    /// One pass where `θ` depends on the input: `y = T(v; MADE(v))` (or `T⁻¹`).
    fn one_pass(
        &self,
        v: Tensor<2>,
        context: Option<&Tensor<2>>,
        inverse: bool,
    ) -> (Tensor<2>, Tensor<1>) {
        self.step(v.clone(), v, context, inverse)
    }

    /// `D` passes where `θ` depends on the output: solves `y = T(v; MADE(y))` (or `T⁻¹`).
    fn sequential(
        &self,
        v: Tensor<2>,
        context: Option<&Tensor<2>>,
        inverse: bool,
    ) -> (Tensor<2>, Tensor<1>) {
        let d = v.dims()[1];
        let mut y = Tensor::zeros_like(&v);
        let mut ld = super::zeros_like_batch(&v);
        for _ in 0..d {
            (y, ld) = self.step(y, v.clone(), context, inverse);
        }
        (y, ld)
    }
}

impl Bijection for Autoregressive {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.forward_given(x, None)
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.inverse_given(z, None)
    }

    fn forward_given(&self, x: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        if self.maf {
            self.one_pass(x, context, false)
        } else {
            self.sequential(x, context, false)
        }
    }

    fn inverse_given(&self, z: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        if self.maf {
            self.sequential(z, context, true)
        } else {
            self.one_pass(z, context, true)
        }
    }
}

impl LayerSpec for AutoregressiveConfig {
    fn name(&self) -> &'static str {
        match (self.direction, self.map()) {
            (Direction::Maf, ArTransform::Affine) => "MAF",
            (Direction::Iaf, ArTransform::Affine) => "IAF",
            (Direction::Maf, ArTransform::Spline { .. }) => "RQ-spline MAF",
            (Direction::Iaf, ArTransform::Spline { .. }) => "RQ-spline IAF",
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn context(&self) -> usize {
        self.context.unwrap_or(0)
    }

    fn check(&self) -> Result<(), String> {
        in_range("dim", self.dim, 2, MAX_DENSE_DIM)?;
        conditioner(self.hidden, self.hidden_layers)?;
        positive_finite("scale clamp", self.scale_clamp)?;
        in_range("context", self.context.unwrap_or(0), 0, MAX_CONTEXT)?;
        if let ArTransform::Spline { bins, tail_bound } = self.map() {
            in_range("bins", bins, 2, MAX_BINS)?;
            positive_finite("tail bound", tail_bound)?;
        }
        Ok(())
    }

    fn allocation_bound(&self) -> u128 {
        // Weights and their masks.
        let d = self.dim as u128;
        let p = self.map().params_per_dim() as u128;
        let input = d + self.context.unwrap_or(0) as u128;
        2 * mlp(
            input,
            self.hidden as u128,
            self.hidden_layers as u128,
            p * d,
        )
    }
}
