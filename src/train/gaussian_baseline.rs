//! The full-covariance Gaussian a flow on a table must beat: the maximum-likelihood `N(μ, Σ)`
//! of the training rows (`μ` their mean, `Σ` their covariance, divided by `n`), its mean NLL on
//! any rows, and the whitening `z = (x − μ) C⁻ᵀ` (`Σ = C Cᵀ`, Cholesky) that turns a flow's
//! first linear layer into this Gaussian.
//!
//! `fit --csv` starts its flow from the whitening (the layers after it start at the identity),
//! keeps the model with the best validation NLL from step 0 on, and reports the Gaussian's
//! validation NLL beside the flow's: on the validation rows the flow it saves is never worse
//! than the Gaussian. A small ridge (`10⁻⁹` of the mean variance) keeps `Σ` positive definite
//! for collinear columns.
//!
//! The mean, covariance, Cholesky factor and triangular inverse are [`crate::numeric`]'s, shared
//! with the prior-predictive density of `inverse::predictive`.
//!
//! # Shapes
//! Rows `[n, D]` row-major; `mean [D]`; `chol [D, D]` lower-triangular, row-major.

use crate::numeric::{cholesky_lower, lower_inverse, mean_and_covariance};

/// A Gaussian fitted to rows.
#[derive(Clone, Debug)]
pub struct GaussianFit {
    pub dim: usize,
    pub mean: Vec<f64>,
    /// Lower-triangular `C` with `Σ = C Cᵀ`.
    pub chol: Vec<f64>,
}

impl GaussianFit {
    /// The maximum-likelihood Gaussian of `rows` (`[n, dim]`); an error for fewer than two rows
    /// or a covariance that is not positive definite even with the ridge.
    pub fn fit(rows: &[f32], dim: usize) -> Result<Self, String> {
        let n = rows.len() / dim.max(1);
        if dim == 0 || n < 2 {
            return Err(format!("a Gaussian needs at least 2 rows, got {n}"));
        }
        let rows64: Vec<f64> = rows.iter().map(|&v| v as f64).collect();
        let (mean, mut cov) = mean_and_covariance(&rows64, dim, n as f64);
        let ridge = 1e-9 * (0..dim).map(|i| cov[i * dim + i]).sum::<f64>() / dim as f64;
        for i in 0..dim {
            cov[i * dim + i] += ridge.max(1e-300);
        }
        // A pivot that is not positive comes out as 0 (floor 0) and is refused here.
        let chol = cholesky_lower(&cov, dim, 0.0);
        if (0..dim).any(|i| !(chol[i * dim + i] > 0.0 && chol[i * dim + i].is_finite())) {
            return Err(
                "the columns' covariance is not positive definite (a constant column?)".into(),
            );
        }
        Ok(Self { dim, mean, chol })
    }

    /// `log N(x; μ, Σ)` of one row.
    pub fn log_density(&self, x: &[f32]) -> f64 {
        let d = self.dim;
        // Solve C y = x − μ by forward substitution; log N = −½‖y‖² − ½ d log 2π − Σ log C_ii.
        let mut y = vec![0.0f64; d];
        for i in 0..d {
            let mut v = x[i] as f64 - self.mean[i];
            for (k, yk) in y.iter().enumerate().take(i) {
                v -= self.chol[i * d + k] * yk;
            }
            y[i] = v / self.chol[i * d + i];
        }
        let log_det: f64 = (0..d).map(|i| self.chol[i * d + i].ln()).sum();
        -0.5 * y.iter().map(|v| v * v).sum::<f64>()
            - 0.5 * d as f64 * std::f64::consts::TAU.ln()
            - log_det
    }

    /// Mean negative log-density of `rows` (nats per row).
    pub fn mean_nll(&self, rows: &[f32]) -> f64 {
        let n = rows.len() / self.dim;
        -rows
            .chunks(self.dim)
            .map(|r| self.log_density(r))
            .sum::<f64>()
            / n.max(1) as f64
    }

    /// The whitening as a row-vector affine map `z = x U + b`: `U = C⁻ᵀ` (upper-triangular,
    /// row-major `[D, D]`, positive diagonal) and `b = −μ U`.
    pub fn whitening(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim;
        let inv = lower_inverse(&self.chol, d);
        let upper: Vec<f64> = (0..d * d).map(|k| inv[(k % d) * d + k / d]).collect();
        let bias: Vec<f64> = (0..d)
            .map(|j| -(0..d).map(|i| self.mean[i] * upper[i * d + j]).sum::<f64>())
            .collect();
        (upper, bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// `x = A ε + μ` with a known lower-triangular `A`: the fit recovers `μ` and `Σ = AAᵀ`, the
    /// whitening maps the rows to unit covariance, and the NLL is the closed-form entropy.
    #[test]
    fn the_fit_recovers_a_known_gaussian_and_whitens_it() {
        let a = [[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [-0.5, 0.3, 0.2]];
        let mu = [1.0, -3.0, 10.0];
        let mut rng = Rng::new(2);
        let n = 200_000;
        let mut rows = Vec::with_capacity(3 * n);
        for _ in 0..n {
            let e = [rng.normal(), rng.normal(), rng.normal()];
            for i in 0..3 {
                rows.push((mu[i] + (0..3).map(|k| a[i][k] * e[k]).sum::<f64>()) as f32);
            }
        }
        let g = GaussianFit::fit(&rows, 3).unwrap();
        for (i, row) in a.iter().enumerate() {
            assert!((g.mean[i] - mu[i]).abs() < 0.02, "mean {:?}", g.mean);
            for (j, want) in row.iter().enumerate().take(i + 1) {
                assert!((g.chol[i * 3 + j] - want).abs() < 0.02, "C {:?}", g.chol);
            }
        }
        let entropy =
            1.5 * (std::f64::consts::TAU * std::f64::consts::E).ln() + (2.0f64 * 0.5 * 0.2).ln();
        assert!((g.mean_nll(&rows) - entropy).abs() < 0.01);
        let (u, b) = g.whitening();
        let mut second = [0.0f64; 9];
        for r in rows.chunks(3) {
            let z: Vec<f64> = (0..3)
                .map(|j| (0..3).map(|i| r[i] as f64 * u[i * 3 + j]).sum::<f64>() + b[j])
                .collect();
            for i in 0..3 {
                for j in 0..3 {
                    second[i * 3 + j] += z[i] * z[j] / n as f64;
                }
            }
        }
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((second[i * 3 + j] - want).abs() < 1e-3, "E[zzᵀ] {second:?}");
            }
            for j in 0..i {
                assert_eq!(u[i * 3 + j], 0.0, "U is upper-triangular");
            }
        }
    }

    #[test]
    fn constant_columns_and_single_rows_are_refused() {
        assert!(GaussianFit::fit(&[1.0, 2.0], 2).is_err());
        let rows = [1.0, 5.0, 2.0, 5.0, 3.0, 5.0];
        let g = GaussianFit::fit(&rows, 2);
        // The ridge keeps a constant column finite (a tiny variance), never a panic.
        assert!(g.is_ok_and(|g| g.mean_nll(&rows).is_finite()));
    }
}
