//! Invertible linear layers, in row-vector form `z = x W + b`, `log|det| = log|det W|`.
//!
//! - [`NaiveLinear`]: a full matrix `W [D, D]`. `log|det W|` and `W⁻¹` come from an LU
//!   factorisation with partial pivoting on the host (f64), `O(D³)` per call; gradients are
//!   exact through first-order surrogates: `∂ log|det W|/∂W = W⁻ᵀ` and `d(W⁻¹) = −W⁻¹ dW W⁻¹`.
//!   It reads the weights back synchronously, so it is for native and CPU use (nflows'
//!   `NaiveLinear`).
//! - [`LuLinear`]: `W = L U` with `L` unit lower triangular and `U` upper triangular with
//!   diagonal `softplus(·) + ε > 0` (Kingma & Dhariwal 2018, Glow, arXiv:1807.03039, §3.2);
//!   `log|det| = Σ log U_jj` in `O(D)`, inverse by two triangular solves. Starts at the identity.
//!
//! # Shapes
//! `W, L, U: [D, D]`, `b: [1, D]`; inputs `[batch, D]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData, activation::softplus};

use super::Bijection;
use super::LayerSpec;
use super::validate::dense;

const DIAG_EPS: f32 = 1e-3;

/// Config of [`NaiveLinear`].
#[derive(Config, Debug, PartialEq)]
pub struct NaiveLinearConfig {
    pub dim: usize,
}

impl NaiveLinearConfig {
    /// `W = I + N(0, 0.01²)` noise, `b = 0`.
    pub fn init(&self, device: &Device) -> NaiveLinear {
        let d = self.dim;
        let noise = Tensor::<2>::random([d, d], Distribution::Normal(0.0, 0.01), device);
        NaiveLinear {
            weight: Param::from_tensor(Tensor::eye(d, device) + noise),
            bias: Param::from_tensor(Tensor::zeros([1, d], device)),
        }
    }
}

/// A full-matrix linear layer.
#[derive(Module, Debug)]
pub struct NaiveLinear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<2>>,
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

impl NaiveLinear {
    /// `(log|det W|` with gradient `W⁻ᵀ`, `W⁻¹` with first-order gradient`)`.
    fn logdet_and_inverse(&self) -> (Tensor<2>, Tensor<2>) {
        let w = self.weight.val();
        let [d, _] = w.dims();
        let device = w.device();
        let host: Vec<f64> = w
            .to_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .expect("float weights");
        let (logdet, inv) = host_logabsdet_and_inverse(&host, d).unwrap_or_else(|| {
            // A singular matrix has log|det| = −∞; NaN-guarded training will roll it back.
            (f64::NEG_INFINITY, vec![f64::NAN; d * d])
        });
        let inv_f32: Vec<f32> = inv.iter().map(|&v| v as f32).collect();
        let w_inv = Tensor::<2>::from_data(TensorData::new(inv_f32, [d, d]), &device);
        let w_c = w.clone().detach();
        let surrogate = ((w.clone() - w_c.clone()) * w_inv.clone().transpose()).sum();
        let logdet = surrogate.reshape([1, 1]).add_scalar(logdet as f32);
        let inv_live = w_inv.clone() - w_inv.clone().matmul(w - w_c).matmul(w_inv);
        (logdet, inv_live)
    }
}

impl Bijection for NaiveLinear {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let (logdet, _) = self.logdet_and_inverse();
        let z = x.matmul(self.weight.val()) + self.bias.val();
        (z, logdet.reshape([1]).repeat_dim(0, n))
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = z.dims();
        let (logdet, w_inv) = self.logdet_and_inverse();
        let x = (z - self.bias.val()).matmul(w_inv);
        (x, logdet.reshape([1]).neg().repeat_dim(0, n))
    }
}

/// Config of [`LuLinear`].
#[derive(Config, Debug, PartialEq)]
pub struct LuLinearConfig {
    pub dim: usize,
}

impl LuLinearConfig {
    /// Identity at initialisation: `L = I`, `U = I`, `b = 0`.
    pub fn init(&self, device: &Device) -> LuLinear {
        let d = self.dim;
        let diag0 = ((1.0 - DIAG_EPS).exp() - 1.0).ln();
        LuLinear {
            lower: Param::from_tensor(Tensor::zeros([d, d], device)),
            upper: Param::from_tensor(Tensor::zeros([d, d], device)),
            diag_raw: Param::from_tensor(Tensor::full([1, d], diag0, device)),
            bias: Param::from_tensor(Tensor::zeros([1, d], device)),
        }
    }
}

/// An LU-decomposed linear layer.
#[derive(Module, Debug)]
pub struct LuLinear {
    /// Strictly-lower part of `L` (the rest is ignored).
    pub lower: Param<Tensor<2>>,
    /// Strictly-upper part of `U` (the rest is ignored).
    pub upper: Param<Tensor<2>>,
    /// `U_jj = softplus(diag_raw_j) + ε`.
    pub diag_raw: Param<Tensor<2>>,
    pub bias: Param<Tensor<2>>,
}

impl LuLinear {
    /// `(L, U, diag U [1, D])`.
    fn factors(&self) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let lower = self.lower.val();
        let [d, _] = lower.dims();
        let device = lower.device();
        let eye = Tensor::<2>::eye(d, &device);
        let diag = softplus(self.diag_raw.val(), 1.0).add_scalar(DIAG_EPS);
        let l = lower.tril(-1) + eye.clone();
        let u = self.upper.val().triu(1) + eye * diag.clone();
        (l, u, diag)
    }

    /// The dense matrix `W = L U` (for tests and inspection).
    pub fn weight(&self) -> Tensor<2> {
        let (l, u, _) = self.factors();
        l.matmul(u)
    }
}

impl Bijection for LuLinear {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, _] = x.dims();
        let (l, u, diag) = self.factors();
        let z = x.matmul(l).matmul(u) + self.bias.val();
        let ld = diag.log().sum().reshape([1]).repeat_dim(0, n);
        (z, ld)
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [n, d] = z.dims();
        let (l, u, diag) = self.factors();
        let r = z - self.bias.val();
        // y U = r, U upper: y_j = (r_j − Σ_{i<j} y_i U_ij) / U_jj, for j = 0..D.
        let mut y: Vec<Tensor<2>> = Vec::with_capacity(d);
        for j in 0..d {
            let mut v = r.clone().narrow(1, j, 1);
            if j > 0 {
                let prev = Tensor::cat(y.clone(), 1);
                v = v - prev.matmul(u.clone().slice([0..j, j..j + 1]));
            }
            y.push(v / u.clone().slice([j..j + 1, j..j + 1]));
        }
        // x L = y, L unit lower: x_j = y_j − Σ_{i>j} x_i L_ij, for j = D−1..0.
        let mut x: Vec<Tensor<2>> = vec![y[d - 1].clone(); d];
        for j in (0..d.saturating_sub(1)).rev() {
            let later = Tensor::cat(x[j + 1..].to_vec(), 1);
            x[j] = y[j].clone() - later.matmul(l.clone().slice([j + 1..d, j..j + 1]));
        }
        let ld = diag.log().sum().reshape([1]).neg().repeat_dim(0, n);
        (Tensor::cat(x, 1), ld)
    }
}

impl LayerSpec for NaiveLinearConfig {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dense("dim", self.dim)
    }

    fn allocation_bound(&self) -> u128 {
        3 * (self.dim as u128).pow(2) + self.dim as u128
    }
}

impl LayerSpec for LuLinearConfig {
    fn name(&self) -> &'static str {
        "LU linear"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dense("dim", self.dim)
    }

    fn allocation_bound(&self) -> u128 {
        3 * (self.dim as u128).pow(2) + 2 * self.dim as u128
    }
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
