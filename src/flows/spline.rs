//! Rational-quadratic spline coupling with linear tails (Neural Spline Flows: Durkan, Bekasov,
//! Murray & Papamakarios 2019, arXiv:1906.04032; formulas of §3.1 and Appendix A).
//!
//! On `[−B, B]` each transformed coordinate goes through a monotone rational-quadratic spline
//! with `K` bins whose widths, heights and interior knot derivatives come from a conditioner
//! `NN(m ⊙ x)`; outside it is the identity (linear tails; boundary derivatives are 1 so the map
//! is C¹). In bin `k` with `ξ = (x − x_k)/w_k`, `s_k = h_k/w_k`:
//!
//! `y = y_k + h_k [s_k ξ² + δ_k ξ(1−ξ)] / [s_k + (δ_{k+1} + δ_k − 2 s_k) ξ(1−ξ)]`,
//! `dy/dx = s_k² [δ_{k+1} ξ² + 2 s_k ξ(1−ξ) + δ_k (1−ξ)²] / [s_k + (δ_{k+1} + δ_k − 2 s_k) ξ(1−ξ)]²`;
//! the inverse solves the quadratic `aξ² + bξ + c = 0` (paper eq. 6–8) with the stable root
//! `ξ = 2c / (−b − √(b² − 4ac))`.
//!
//! Zero conditioner output gives uniform bins and unit derivatives: the identity.
//!
//! # Shapes
//! `NN: [batch, D] → [batch, D·(3K − 1)]`, reshaped `[batch, D, 3K − 1]` = widths `K`,
//! heights `K`, interior derivatives `K − 1`; knots `[batch, D, K + 1]`; log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::{softmax, softplus};
use burn::tensor::{Device, Int, Tensor};

use super::LayerSpec;
use super::mlp::Mlp;
use super::validate::{MAX_BINS, conditioner, in_range, mask, mlp, positive_finite};
use super::{Bijection, mask_row, sum_rows};

const MIN_BIN: f32 = 1e-3;
const MIN_DERIVATIVE: f32 = 1e-3;

/// Config of [`SplineCoupling`].
#[derive(Config, Debug, PartialEq)]
pub struct SplineCouplingConfig {
    pub mask: Vec<bool>,
    #[config(default = 64)]
    pub hidden: usize,
    #[config(default = 2)]
    pub hidden_layers: usize,
    #[config(default = 8)]
    pub bins: usize,
    /// Half-width `B` of the spline interval.
    #[config(default = 4.0)]
    pub tail_bound: f32,
}

impl SplineCouplingConfig {
    pub fn init(&self, device: &Device) -> SplineCoupling {
        let d = self.mask.len();
        SplineCoupling {
            net: Mlp::new(
                d,
                self.hidden,
                self.hidden_layers,
                d * (3 * self.bins - 1),
                device,
            ),
            mask: mask_row(&self.mask, device),
            bins: self.bins,
            tail_bound: self.tail_bound,
        }
    }
}

/// A rational-quadratic spline coupling layer.
#[derive(Module, Debug)]
pub struct SplineCoupling {
    pub net: Mlp,
    pub mask: Tensor<2>,
    #[module(skip)]
    pub bins: usize,
    #[module(skip)]
    pub tail_bound: f32,
}

/// Knot positions `[batch, D, K+1]` from unnormalised bin sizes `[batch, D, K]`.
fn knots(raw: Tensor<3>, bound: f32) -> Tensor<3> {
    let [n, d, k] = raw.dims();
    let device = raw.device();
    let sizes = softmax(raw, 2)
        .mul_scalar(1.0 - MIN_BIN * k as f32)
        .add_scalar(MIN_BIN);
    let inner = sizes
        .narrow(2, 0, k - 1)
        .cumsum(2)
        .mul_scalar(2.0 * bound)
        .sub_scalar(bound);
    let lo = Tensor::<3>::full([n, d, 1], -bound, &device);
    let hi = Tensor::<3>::full([n, d, 1], bound, &device);
    Tensor::cat(vec![lo, inner, hi], 2)
}

struct Bin {
    x_k: Tensor<2>,
    w_k: Tensor<2>,
    y_k: Tensor<2>,
    h_k: Tensor<2>,
    d_k: Tensor<2>,
    d_k1: Tensor<2>,
}

impl SplineCoupling {
    /// Knots `(xs, ys, derivatives)`, each `[batch, D, K+1]`.
    fn spline_params(&self, x: Tensor<2>) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
        let [n, d] = x.dims();
        let k = self.bins;
        let out = self
            .net
            .forward(x * self.mask.clone())
            .reshape([n, d, 3 * k - 1]);
        let xs = knots(out.clone().narrow(2, 0, k), self.tail_bound);
        let ys = knots(out.clone().narrow(2, k, k), self.tail_bound);
        // softplus(0 + c) = 1 − MIN_DERIVATIVE, so zero output gives unit derivatives.
        let c = ((1.0 - MIN_DERIVATIVE).exp() - 1.0).ln();
        let inner =
            softplus(out.narrow(2, 2 * k, k - 1).add_scalar(c), 1.0).add_scalar(MIN_DERIVATIVE);
        let one = Tensor::<3>::ones([n, d, 1], &inner.device());
        let derivs = Tensor::cat(vec![one.clone(), inner, one], 2);
        (xs, ys, derivs)
    }

    /// The bin of each coordinate of `v [batch, D]` among `knots [batch, D, K+1]`, and its values.
    fn locate(
        &self,
        v: &Tensor<2>,
        along: &Tensor<3>,
        xs: &Tensor<3>,
        ys: &Tensor<3>,
        ds: &Tensor<3>,
    ) -> Bin {
        let k = self.bins;
        let [n, d] = v.dims();
        let interior = along.clone().narrow(2, 1, k - 1);
        let v3 = v.clone().unsqueeze_dim::<3>(2).repeat_dim(2, k - 1);
        let idx: Tensor<3, Int> = v3.greater_equal(interior).int().sum_dim(2); // [n,d,1] in 0..K-1
        let idx1 = idx.clone().add_scalar(1);
        let pick = |t: &Tensor<3>, i: &Tensor<3, Int>| -> Tensor<2> {
            t.clone().gather(2, i.clone()).reshape([n, d])
        };
        let x_k = pick(xs, &idx);
        let y_k = pick(ys, &idx);
        Bin {
            w_k: pick(xs, &idx1) - x_k.clone(),
            h_k: pick(ys, &idx1) - y_k.clone(),
            d_k: pick(ds, &idx),
            d_k1: pick(ds, &idx1),
            x_k,
            y_k,
        }
    }

    /// Applies the spline (or its inverse) to every coordinate, identity outside `[−B, B]`,
    /// then keeps the conditioning coordinates unchanged. Returns `(output, log|det|)`.
    fn apply(&self, v: Tensor<2>, inverse: bool) -> (Tensor<2>, Tensor<1>) {
        let b = self.tail_bound;
        let (xs, ys, ds) = self.spline_params(v.clone());
        let inside = v.clone().abs().lower_equal_elem(b);
        let vc = v.clone().clamp(-b, b);
        let along = if inverse { &ys } else { &xs };
        let bin = self.locate(&vc, along, &xs, &ys, &ds);
        let s = bin.h_k.clone() / bin.w_k.clone();
        let sum_d = bin.d_k1.clone() + bin.d_k.clone() - s.clone().mul_scalar(2.0);
        let (out, xi) = if inverse {
            let dy = vc - bin.y_k.clone();
            let a = bin.h_k.clone() * (s.clone() - bin.d_k.clone()) + dy.clone() * sum_d.clone();
            let bq = bin.h_k.clone() * bin.d_k.clone() - dy.clone() * sum_d.clone();
            let c = s.clone().neg() * dy;
            let disc = (bq.clone().square() - a.mul_scalar(4.0) * c.clone()).clamp_min(0.0);
            let xi = c.mul_scalar(2.0) / (bq.neg() - disc.sqrt());
            (xi.clone() * bin.w_k.clone() + bin.x_k.clone(), xi)
        } else {
            let xi = (vc - bin.x_k.clone()) / bin.w_k.clone();
            let xi1 = xi.clone() * xi.clone().neg().add_scalar(1.0);
            let num =
                bin.h_k.clone() * (s.clone() * xi.clone().square() + bin.d_k.clone() * xi1.clone());
            let den = s.clone() + sum_d.clone() * xi1;
            (bin.y_k.clone() + num / den, xi)
        };
        let xi1 = xi.clone() * xi.clone().neg().add_scalar(1.0);
        let one_minus = xi.clone().neg().add_scalar(1.0);
        let dnum = s.clone().square()
            * (bin.d_k1 * xi.square()
                + s.clone().mul_scalar(2.0) * xi1.clone()
                + bin.d_k * one_minus.square());
        let den = s + sum_d * xi1;
        let ld = dnum.log() - den.log().mul_scalar(2.0);
        let ld = if inverse { ld.neg() } else { ld };
        let free = self.mask.clone().neg().add_scalar(1.0);
        let out = v.clone().mask_where(inside.clone(), out);
        let out = v.clone() * self.mask.clone() + out * free.clone();
        let ld = Tensor::zeros_like(&ld).mask_where(inside, ld) * free;
        (out, sum_rows(ld))
    }
}

impl Bijection for SplineCoupling {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.apply(x, false)
    }
    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.apply(z, true)
    }
}

impl LayerSpec for SplineCouplingConfig {
    fn name(&self) -> &'static str {
        "RQ-spline coupling"
    }

    fn dim(&self) -> usize {
        self.mask.len()
    }

    fn check(&self) -> Result<(), String> {
        mask(&self.mask)?;
        conditioner(self.hidden, self.hidden_layers)?;
        in_range("bins", self.bins, 2, MAX_BINS)?;
        positive_finite("tail bound", self.tail_bound)
    }

    fn allocation_bound(&self) -> u128 {
        let d = self.mask.len() as u128;
        let out = d * (3 * self.bins as u128 - 1);
        mlp(d, self.hidden as u128, self.hidden_layers as u128, out) + d
    }
}
