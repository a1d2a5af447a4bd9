//! The monotone rational-quadratic spline with linear tails (Neural Spline Flows: Durkan,
//! Bekasov, Murray & Papamakarios 2019, arXiv:1906.04032; formulas of §3.1 and Appendix A), as
//! a pure function of its raw parameters: the elementwise map of the spline coupling
//! ([`super::spline`]), and of any layer that wants a spline per coordinate.
//!
//! On `[−B, B]` each coordinate goes through a spline with `K` bins whose widths, heights and
//! interior knot derivatives come from raw numbers `θ` (softmax-normalised widths and heights,
//! at least `MIN_BIN` each; softplus derivatives, at least `MIN_DERIVATIVE`); outside it is the
//! identity (boundary derivatives are 1, so the map is C¹). In bin `k` with
//! `ξ = (x − x_k)/w_k`, `s_k = h_k/w_k`:
//!
//! `y = y_k + h_k [s_k ξ² + δ_k ξ(1−ξ)] / [s_k + (δ_{k+1} + δ_k − 2 s_k) ξ(1−ξ)]`,
//! `dy/dx = s_k² [δ_{k+1} ξ² + 2 s_k ξ(1−ξ) + δ_k (1−ξ)²] / [s_k + (δ_{k+1} + δ_k − 2 s_k) ξ(1−ξ)]²`;
//! the inverse solves the quadratic `aξ² + bξ + c = 0` (paper eq. 6–8) with the stable root
//! `ξ = 2c / (−b − √(b² − 4ac))`. All-zero `θ` gives uniform bins and unit derivatives: the
//! identity.
//!
//! # Shapes
//! `θ: [batch, D·(3K − 1)]`, read as `[batch, D, 3K − 1]` = widths `K`, heights `K`, interior
//! derivatives `K − 1`; `v, y, log|dy/dv|: [batch, D]`; knots `[batch, D, K + 1]`.

use burn::tensor::activation::{softmax, softplus};
use burn::tensor::{Int, Tensor};

/// Smallest bin width and height, as a fraction of `2B`.
pub const MIN_BIN: f32 = 1e-3;
/// Smallest interior knot derivative.
pub const MIN_DERIVATIVE: f32 = 1e-3;

/// `(y, log|dy/dv|)` of the spline with `bins` bins on `[−bound, bound]` (its inverse when
/// `inverse`, with the log-derivative of the inverse) for every coordinate of `v`.
pub fn rq_spline(
    theta: Tensor<2>,
    v: Tensor<2>,
    bins: usize,
    bound: f32,
    inverse: bool,
) -> (Tensor<2>, Tensor<2>) {
    let b = bound;
    let (xs, ys, ds) = spline_params(theta, &v, bins, bound);
    let inside = v.clone().abs().lower_equal_elem(b);
    let vc = v.clone().clamp(-b, b);
    let along = if inverse { &ys } else { &xs };
    let bin = locate(&vc, along, &xs, &ys, &ds, bins);
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
    let out = v.mask_where(inside.clone(), out);
    let ld = Tensor::zeros_like(&ld).mask_where(inside, ld);
    (out, ld)
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

/// Knots `(xs, ys, derivatives)`, each `[batch, D, K+1]`.
fn spline_params(
    theta: Tensor<2>,
    v: &Tensor<2>,
    k: usize,
    bound: f32,
) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
    let [n, d] = v.dims();
    let out = theta.reshape([n, d, 3 * k - 1]);
    let xs = knots(out.clone().narrow(2, 0, k), bound);
    let ys = knots(out.clone().narrow(2, k, k), bound);
    // softplus(0 + c) = 1 − MIN_DERIVATIVE, so zero output gives unit derivatives.
    let c = ((1.0 - MIN_DERIVATIVE).exp() - 1.0).ln();
    let inner = softplus(out.narrow(2, 2 * k, k - 1).add_scalar(c), 1.0).add_scalar(MIN_DERIVATIVE);
    let one = Tensor::<3>::ones([n, d, 1], &inner.device());
    let derivs = Tensor::cat(vec![one.clone(), inner, one], 2);
    (xs, ys, derivs)
}

/// The values of one bin per coordinate.
struct Bin {
    x_k: Tensor<2>,
    w_k: Tensor<2>,
    y_k: Tensor<2>,
    h_k: Tensor<2>,
    d_k: Tensor<2>,
    d_k1: Tensor<2>,
}

/// The bin of each coordinate of `v [batch, D]` among the knots `along [batch, D, K+1]`.
fn locate(
    v: &Tensor<2>,
    along: &Tensor<3>,
    xs: &Tensor<3>,
    ys: &Tensor<3>,
    ds: &Tensor<3>,
    k: usize,
) -> Bin {
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// The spline of one coordinate, written out in `f64` from the paper's formulas (no
    /// tensors): `(y, log dy/dx)` of the forward map.
    fn scalar_spline(raw: &[f64], x: f64, k: usize, b: f64) -> (f64, f64) {
        if x.abs() > b {
            return (x, 0.0);
        }
        let knots = |r: &[f64]| -> Vec<f64> {
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = r.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            let min = MIN_BIN as f64;
            let mut at = vec![-b];
            let mut acc = 0.0;
            for v in &e[..k - 1] {
                acc += v / z * (1.0 - min * k as f64) + min;
                at.push(acc * 2.0 * b - b);
            }
            at.push(b);
            at
        };
        let xs = knots(&raw[..k]);
        let ys = knots(&raw[k..2 * k]);
        let c = ((1.0 - MIN_DERIVATIVE as f64).exp() - 1.0).ln();
        let mut ds = vec![1.0];
        ds.extend(
            raw[2 * k..]
                .iter()
                .map(|v| (1.0 + (v + c).exp()).ln() + MIN_DERIVATIVE as f64),
        );
        ds.push(1.0);
        let i = (1..k).filter(|&j| x >= xs[j]).count();
        let (w, h) = (xs[i + 1] - xs[i], ys[i + 1] - ys[i]);
        let s = h / w;
        let xi = (x - xs[i]) / w;
        let t = xi * (1.0 - xi);
        let den = s + (ds[i + 1] + ds[i] - 2.0 * s) * t;
        let y = ys[i] + h * (s * xi * xi + ds[i] * t) / den;
        let dnum = s * s * (ds[i + 1] * xi * xi + 2.0 * s * t + ds[i] * (1.0 - xi).powi(2));
        (y, dnum.ln() - 2.0 * den.ln())
    }

    /// Element by element against [`scalar_spline`] for random parameters and points inside
    /// and outside `[−B, B]`; and the inverse returns the input with the negated log-derivative.
    #[test]
    fn each_element_matches_the_formula_and_the_inverse_undoes_it() {
        let device = crate::device::cpu();
        let (n, d, k, b) = (64, 3, 5, 3.0f32);
        let p = 3 * k - 1;
        let mut rng = crate::rng::Rng::new(11);
        let theta: Vec<f32> = (0..n * d * p)
            .map(|_| rng.uniform_in(-2.0, 2.0) as f32)
            .collect();
        let v: Vec<f32> = (0..n * d)
            .map(|_| rng.uniform_in(-4.0, 4.0) as f32)
            .collect();
        let t2 = |data: Vec<f32>, cols: usize| {
            Tensor::<2>::from_data(TensorData::new(data, [n, cols]), &device)
        };
        let (y, ld) = rq_spline(t2(theta.clone(), d * p), t2(v.clone(), d), k, b, false);
        let y: Vec<f32> = crate::readback::to_host(y).unwrap();
        let ld: Vec<f32> = crate::readback::to_host(ld).unwrap();
        let mut outside = 0;
        for (e, &x) in v.iter().enumerate() {
            let raw: Vec<f64> = theta[e * p..(e + 1) * p]
                .iter()
                .map(|&t| t as f64)
                .collect();
            let (y_ref, ld_ref) = scalar_spline(&raw, x as f64, k, b as f64);
            outside += usize::from(x.abs() > b);
            assert!(
                (y[e] as f64 - y_ref).abs() < 1e-4,
                "element {e}: y {} vs {y_ref}",
                y[e]
            );
            assert!(
                (ld[e] as f64 - ld_ref).abs() < 1e-3,
                "element {e}: log dy/dx {} vs {ld_ref}",
                ld[e]
            );
        }
        assert!(
            outside > 0 && outside < n * d,
            "both tails and the interval are exercised"
        );
        let (back, ld_inv) = rq_spline(t2(theta, d * p), t2(y.clone(), d), k, b, true);
        let back: Vec<f32> = crate::readback::to_host(back).unwrap();
        let ld_inv: Vec<f32> = crate::readback::to_host(ld_inv).unwrap();
        for e in 0..n * d {
            assert!(
                (back[e] - v[e]).abs() < 1e-4,
                "element {e}: {} vs {}",
                back[e],
                v[e]
            );
            assert!((ld_inv[e] + ld[e]).abs() < 1e-3, "element {e}");
        }
    }

    #[test]
    fn zero_parameters_give_the_identity() {
        let device = crate::device::cpu();
        let v = Tensor::<2>::from_data(
            TensorData::new(vec![-5.0f32, -1.5, 0.0, 2.9], [1, 4]),
            &device,
        );
        let theta = Tensor::<2>::zeros([1, 4 * (3 * 4 - 1)], &device);
        let (y, ld) = rq_spline(theta, v.clone(), 4, 3.0, false);
        let diff: f32 = (y - v).abs().max().into_scalar();
        let ld: f32 = ld.abs().max().into_scalar();
        assert!(diff < 1e-5 && ld < 1e-5, "{diff} {ld}");
    }
}
