//! Dense matrices on the host: what the layers whose Jacobian is a general `D×D` matrix share
//! (the naive linear layer, the exact FC and conv baselines of the self-normalizing layers,
//! the emerging and exponential convolutions, and the tests' log-det oracles).
//!
//! - [`host_logabsdet_and_inverse`] / [`host_logabsdet`]: LU with partial pivoting in `f64`,
//!   `O(D³)` (Golub & Van Loan, *Matrix Computations*, §3.4);
//! - [`dense_logdet`] / [`dense_logdet_and_inverse`]: `log|det M|` of a tensor with the exact
//!   gradient `M⁻ᵀ` through a first-order surrogate, and `M⁻¹`;
//! - [`conv_matrix`]: the `D×D` matrix of a convolution on images of one shape.
//!
//! # Shapes
//! Matrices are row-major `[D, D]` in row-vector form (`flat(y) = flat(x) · M`); log-dets `[1]`.
//! The host copies read weights back synchronously, so these are for native and CPU use.

use burn::tensor::{Tensor, TensorData};

use super::image::{ImageShape, conv_same};

/// Host copy of a tensor as `f64` (synchronous: native and the CPU backend only).
fn host_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    crate::readback::to_host(t).expect("float tensor")
}

/// LU factorisation with partial pivoting of a row-major `n×n` matrix: `(log|det|, inverse)`.
/// Returns `None` for a (numerically) singular matrix.
pub fn host_logabsdet_and_inverse(a: &[f64], n: usize) -> Option<(f64, Vec<f64>)> {
    let (logdet, lu, perm) = host_lu(a, n)?;
    Some((logdet, lu_inverse(&lu, &perm, n)))
}

/// `log|det|` alone (the LU without the `O(n³)` inverse that gradients need).
pub fn host_logabsdet(a: &[f64], n: usize) -> Option<f64> {
    host_lu(a, n).map(|(logdet, _, _)| logdet)
}

/// `P A = L U` in place: `(log|det A|, packed LU, row permutation)`.
fn host_lu(a: &[f64], n: usize) -> Option<(f64, Vec<f64>, Vec<usize>)> {
    let mut lu = a.to_vec();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut logdet = 0.0;
    for k in 0..n {
        let p = (k..n).max_by(|&i, &j| lu[i * n + k].abs().total_cmp(&lu[j * n + k].abs()))?;
        if lu[p * n + k].abs() < 1e-300 {
            return None;
        }
        if p != k {
            for j in 0..n {
                lu.swap(k * n + j, p * n + j);
            }
            perm.swap(k, p);
        }
        let pivot = lu[k * n + k];
        logdet += pivot.abs().ln();
        for i in k + 1..n {
            let f = lu[i * n + k] / pivot;
            lu[i * n + k] = f;
            let (top, bottom) = lu.split_at_mut(i * n);
            let pivot_row = &top[k * n + k + 1..k * n + n];
            for (x, p) in bottom[k + 1..n].iter_mut().zip(pivot_row) {
                *x -= f * p;
            }
        }
    }
    Some((logdet, lu, perm))
}

/// Solves `A X = I` from the packed `P A = L U`, all columns at once: row operations on the
/// whole right-hand side (contiguous `axpy`s the compiler vectorises), `O(n³)`.
fn lu_inverse(lu: &[f64], perm: &[usize], n: usize) -> Vec<f64> {
    // X starts as P (row i of P·I has its 1 in column perm[i]).
    let mut x = vec![0.0; n * n];
    for (i, &p) in perm.iter().enumerate() {
        x[i * n + p] = 1.0;
    }
    // L Y = P: row i −= Σ_{j<i} L_ij · row j.
    for i in 0..n {
        let (done, rest) = x.split_at_mut(i * n);
        let row = &mut rest[..n];
        for j in 0..i {
            let f = lu[i * n + j];
            if f != 0.0 {
                for (r, y) in row.iter_mut().zip(&done[j * n..(j + 1) * n]) {
                    *r -= f * y;
                }
            }
        }
    }
    // U X = Y: from the bottom row up.
    for i in (0..n).rev() {
        let (head, tail) = x.split_at_mut((i + 1) * n);
        let row = &mut head[i * n..];
        for j in i + 1..n {
            let f = lu[i * n + j];
            if f != 0.0 {
                for (r, y) in row.iter_mut().zip(&tail[(j - i - 1) * n..(j - i) * n]) {
                    *r -= f * y;
                }
            }
        }
        let d = lu[i * n + i];
        row.iter_mut().for_each(|r| *r /= d);
    }
    x
}

/// The dense matrix of the linear map `x ↦ conv_same(x, weight)` on images of shape `s`, in
/// row-vector form: `M [D, D]` with `flat(conv(x)) = flat(x) · M`, built by convolving the `D`
/// basis images (differentiable in `weight`). `O(D²·c·k²)` work and `D²` memory: for exact
/// log-dets and inverses of general convolutions, the cost the self-normalizing layers avoid.
pub(crate) fn conv_matrix(weight: Tensor<4>, s: ImageShape) -> Tensor<2> {
    let d = s.dim();
    let device = weight.device();
    let basis = Tensor::<2>::eye(d, &device).reshape([d, s.channels, s.height, s.width]);
    conv_same(basis, weight, None).reshape([d, d])
}

/// `log|det M|` of a dense row-form matrix, `[1]`: with the exact gradient when `M` is part of
/// an autodiff graph ([`dense_logdet_and_inverse`]), else from the LU alone (no inverse: about
/// 4× cheaper, which is what evaluation of SNF models spends its time on).
pub(crate) fn dense_logdet(m: Tensor<2>) -> Tensor<1> {
    if m.is_tracked() {
        return dense_logdet_and_inverse(m).0;
    }
    let [d, _] = m.dims();
    let logdet = host_logabsdet(&host_f64(m.clone()), d).unwrap_or(f64::NEG_INFINITY);
    Tensor::<1>::from_data(TensorData::new(vec![logdet as f32], [1]), &m.device())
}

/// `log|det M|` of a dense row-form matrix with the exact gradient `M⁻ᵀ` (through the
/// first-order surrogate `Σ (M − sg M) ⊙ sg(M⁻ᵀ)`), and `sg(M⁻¹)` for inverses.
/// The factorisation runs on the host in `f64` (`O(D³)`); a singular matrix gives `−∞`/NaN,
/// which the trainers' NaN guard rolls back.
pub(crate) fn dense_logdet_and_inverse(m: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
    let [d, _] = m.dims();
    let device = m.device();
    let host = host_f64(m.clone().detach());
    let (logdet, inv) =
        host_logabsdet_and_inverse(&host, d).unwrap_or((f64::NEG_INFINITY, vec![f64::NAN; d * d]));
    let inv: Vec<f32> = inv.iter().map(|&v| v as f32).collect();
    let inv = Tensor::<2>::from_data(TensorData::new(inv, [d, d]), &device);
    let surrogate = ((m.clone() - m.detach()) * inv.clone().transpose()).sum();
    (surrogate.add_scalar(logdet as f32).reshape([1]), inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `A · A⁻¹ = I` and `log|det|` against a hand-computed 3×3 determinant (with pivoting).
    #[test]
    fn host_lu_inverts_and_gives_the_determinant() {
        let a = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 4.0];
        // det = 0·(4 − 0) − 2·(4 − 0) + 1·(0 − 3) = −11.
        let (ld, inv) = host_logabsdet_and_inverse(&a, 3).unwrap();
        assert!((ld - 11f64.ln()).abs() < 1e-12);
        assert!((host_logabsdet(&a, 3).unwrap() - ld).abs() < 1e-15);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(host_logabsdet_and_inverse(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }

    /// Against an independent oracle: `A = P·L·U` built from random unit-lower `L`, upper `U`
    /// and a row permutation `P`, so `log|det A| = Σ log|U_ii|` by construction; sizes 1 to 150,
    /// with `A·A⁻¹ = I` checked entry by entry.
    #[test]
    fn host_lu_matches_matrices_of_known_determinant() {
        let mut rng = crate::rng::Rng::new(5);
        for n in [1, 2, 7, 64, 150] {
            // Off-diagonal entries of size 1/√n keep A well conditioned (random unit-triangular
            // factors with O(1) entries have condition numbers growing like 2ⁿ, and then the
            // rounded product no longer has the constructed determinant).
            let off = 1.0 / (n as f64).sqrt();
            let mut l = vec![0.0; n * n];
            let mut u = vec![0.0; n * n];
            let mut expected = 0.0;
            for i in 0..n {
                l[i * n + i] = 1.0;
                for j in 0..i {
                    l[i * n + j] = off * rng.uniform_in(-1.0, 1.0);
                }
                let d = rng.uniform_in(0.5, 2.0) * if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                u[i * n + i] = d;
                expected += f64::ln(f64::abs(d));
                for j in i + 1..n {
                    u[i * n + j] = off * rng.uniform_in(-1.0, 1.0);
                }
            }
            let perm = rng.permutation(n);
            let mut a = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    a[perm[i] * n + j] = (0..n).map(|k| l[i * n + k] * u[k * n + j]).sum();
                }
            }
            let (ld, inv) = host_logabsdet_and_inverse(&a, n).expect("invertible");
            assert!(
                (ld - expected).abs() < 1e-9 * n as f64,
                "n = {n}: {ld} vs {expected}"
            );
            assert!((host_logabsdet(&a, n).unwrap() - expected).abs() < 1e-9 * n as f64);
            let worst = (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .map(|(i, j)| {
                    let v: f64 = (0..n).map(|k| a[i * n + k] * inv[k * n + j]).sum();
                    (v - if i == j { 1.0 } else { 0.0 }).abs()
                })
                .fold(0.0, f64::max);
            assert!(worst < 1e-8, "n = {n}: ‖A·A⁻¹ − I‖∞ = {worst}");
        }
    }
}
