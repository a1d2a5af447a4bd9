//! RealNVP's masked affine coupling transform (Dinh et al. 2017, arXiv:1605.08803) after its
//! conditioner, as one pass over each row instead of a dozen element-wise tensor operations.
//!
//! Per row, with `θ = [a | t]` (`a, t ∈ ℝ^d`, the conditioner's output), the input `v ∈ ℝ^d`,
//! a binary mask `m` (1 = passed through) and the soft clamp `s = c·tanh(a/c)`:
//! - data → noise: `y_j = v_j` where `m_j = 1`, else `y_j = v_j·e^{s_j} + t_j`;
//!   `log|det| = Σ_{j: m_j = 0} s_j`.
//! - noise → data: `y_j = v_j` where `m_j = 1`, else `y_j = (v_j − t_j)·e^{−s_j}`;
//!   `log|det| = −Σ_{j: m_j = 0} s_j`.
//!
//! The output row is `[y | log|det|]` (`d + 1` values). Backward, given `g = [g_y | g_ld]` and
//! `h = tanh(a/c)` (so `∂s/∂a = 1 − h²`), on the free coordinates (`m_j = 0`):
//! - data → noise: `∂v = g_y·e^s`, `∂t = g_y`, `∂s = g_y·v·e^s + g_ld`;
//! - noise → data: `∂v = g_y·e^{−s}`, `∂t = −g_y·e^{−s}`, `∂s = −g_y·y − g_ld`;
//!
//! and `∂a = ∂s·(1 − h²)`; on the kept ones `∂v = g_y`, `∂a = ∂t = 0`.
//!
//! # Shapes
//! `theta [rows, 2d]`, `v [rows, d]`, `mask [d]` (0 or 1), output `[rows, d + 1]`.

use crate::Matrix;

/// The transform's fixed settings.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a> {
    /// 1 where a coordinate is passed through unchanged, 0 where it is transformed.
    pub mask: &'a [f32],
    /// The soft clamp `c` of `s = c·tanh(a/c)`.
    pub clamp: f32,
    /// Noise → data instead of data → noise.
    pub inverse: bool,
}

/// `[y | log|det|]` as a new `[rows, d + 1]` buffer.
pub fn forward(theta: Matrix, v: Matrix, affine: Affine) -> Vec<f32> {
    let d = v.cols;
    check(theta, v, affine);
    let mut out = vec![0.0f32; v.rows * (d + 1)];
    for (r, o) in out.chunks_exact_mut(d + 1).enumerate() {
        let (th, vr) = (theta.row(r), v.row(r));
        let mut ld = 0.0f32;
        for j in 0..d {
            if affine.mask[j] > 0.5 {
                o[j] = vr[j];
                continue;
            }
            let s = affine.clamp * (th[j] / affine.clamp).tanh();
            let t = th[d + j];
            if affine.inverse {
                o[j] = (vr[j] - t) * (-s).exp();
                ld -= s;
            } else {
                o[j] = vr[j] * s.exp() + t;
                ld += s;
            }
        }
        o[d] = ld;
    }
    out
}

/// `(∂θ [rows, 2d], ∂v [rows, d])` given `grad = ∂L/∂[y | log|det|]` and the forward's output.
pub fn backward(
    theta: Matrix,
    v: Matrix,
    output: Matrix,
    grad: Matrix,
    affine: Affine,
) -> (Vec<f32>, Vec<f32>) {
    let d = v.cols;
    check(theta, v, affine);
    assert!(output.cols == d + 1 && grad.cols == d + 1 && grad.rows == v.rows);
    let mut dtheta = vec![0.0f32; v.rows * 2 * d];
    let mut dv = vec![0.0f32; v.rows * d];
    for r in 0..v.rows {
        let (th, vr, y, g) = (theta.row(r), v.row(r), output.row(r), grad.row(r));
        let g_ld = g[d];
        let dth = &mut dtheta[r * 2 * d..(r + 1) * 2 * d];
        let dvr = &mut dv[r * d..(r + 1) * d];
        for j in 0..d {
            if affine.mask[j] > 0.5 {
                dvr[j] = g[j];
                continue;
            }
            let h = (th[j] / affine.clamp).tanh();
            let s = affine.clamp * h;
            let ds = if affine.inverse {
                let e = (-s).exp();
                dvr[j] = g[j] * e;
                dth[d + j] = -g[j] * e;
                -g[j] * y[j] - g_ld
            } else {
                let e = s.exp();
                dvr[j] = g[j] * e;
                dth[d + j] = g[j];
                g[j] * vr[j] * e + g_ld
            };
            dth[j] = ds * (1.0 - h * h);
        }
    }
    (dtheta, dv)
}

fn check(theta: Matrix, v: Matrix, affine: Affine) {
    assert_eq!(theta.rows, v.rows, "θ and v have different batch sizes");
    assert_eq!(theta.cols, 2 * v.cols, "θ is not [s | t] for v's width");
    assert_eq!(affine.mask.len(), v.cols, "mask width differs from v's");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values as scaled;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        scaled(len, seed, 2.0)
    }

    /// Loss `L = Σ w ⊙ [y | ld]` of the transform, in f64 for finite differences.
    fn loss(theta: &[f32], v: &[f32], w: &[f32], rows: usize, d: usize, affine: Affine) -> f64 {
        let out = forward(
            Matrix::new(theta, rows, 2 * d),
            Matrix::new(v, rows, d),
            affine,
        );
        out.iter()
            .zip(w)
            .map(|(&o, &wv)| o as f64 * wv as f64)
            .sum()
    }

    /// The backward against central finite differences of the forward, both directions, and
    /// the inverse undoing the forward.
    #[test]
    fn gradients_match_finite_differences_and_inverse_undoes_forward() {
        let (rows, d) = (3, 3);
        let mask = [1.0, 0.0, 0.0];
        for inverse in [false, true] {
            let affine = Affine {
                mask: &mask,
                clamp: 2.0,
                inverse,
            };
            let theta = values(rows * 2 * d, 1);
            let v = values(rows * d, 2);
            let w = values(rows * (d + 1), 3);
            let (tm, vm) = (Matrix::new(&theta, rows, 2 * d), Matrix::new(&v, rows, d));
            let out = forward(tm, vm, affine);
            let (dtheta, dv) = backward(
                tm,
                vm,
                Matrix::new(&out, rows, d + 1),
                Matrix::new(&w, rows, d + 1),
                affine,
            );
            let eps = 1e-2f32;
            for (what, base, analytic) in [("θ", &theta, &dtheta), ("v", &v, &dv)] {
                for i in 0..base.len() {
                    let (mut plus, mut minus) = (base.clone(), base.clone());
                    plus[i] += eps;
                    minus[i] -= eps;
                    let (fp, fm) = if what == "θ" {
                        (
                            loss(&plus, &v, &w, rows, d, affine),
                            loss(&minus, &v, &w, rows, d, affine),
                        )
                    } else {
                        (
                            loss(&theta, &plus, &w, rows, d, affine),
                            loss(&theta, &minus, &w, rows, d, affine),
                        )
                    };
                    let numeric = (fp - fm) / (2.0 * eps as f64);
                    let got = analytic[i] as f64;
                    assert!(
                        (numeric - got).abs() < 2e-2 * (1.0 + numeric.abs()),
                        "∂{what}[{i}] (inverse {inverse}): {got} vs {numeric}"
                    );
                }
            }
        }
        // inverse(forward(v)) = v, and the log-dets cancel.
        let affine = Affine {
            mask: &mask,
            clamp: 2.0,
            inverse: false,
        };
        let (theta, v) = (values(rows * 2 * d, 5), values(rows * d, 6));
        let tm = Matrix::new(&theta, rows, 2 * d);
        let z = forward(tm, Matrix::new(&v, rows, d), affine);
        let zs: Vec<f32> = z.chunks(d + 1).flat_map(|r| r[..d].to_vec()).collect();
        let back = forward(
            tm,
            Matrix::new(&zs, rows, d),
            Affine {
                inverse: true,
                ..affine
            },
        );
        for r in 0..rows {
            for j in 0..d {
                assert!((back[r * (d + 1) + j] - v[r * d + j]).abs() < 1e-5);
            }
            assert!((back[r * (d + 1) + d] + z[r * (d + 1) + d]).abs() < 1e-5);
        }
    }
}
