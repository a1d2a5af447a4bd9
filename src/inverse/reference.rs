//! Reference posteriors: exact for the linear-Gaussian problem, exact rejection samples for the
//! others.
//!
//! - Linear-Gaussian: with prior `N(0, I)` and `y = Aθ + ε`, `ε ~ N(0, σ² I)`, the posterior is
//!   `N(μ, Σ)` with `Σ = (AᵀA/σ² + I)⁻¹`, `μ = Σ Aᵀ y / σ²` (Bishop 2006, eq. 2.116–2.117).
//! - Any problem: rejection sampling from the prior with acceptance probability
//!   `exp(−‖y − f(θ)‖² / 2σ²) ≤ 1` gives exact draws of `p(θ | y)` (the likelihood is bounded by
//!   its value at `f(θ) = y`). This is rejection ABC with a Gaussian kernel whose width is the
//!   actual noise, so it is exact rather than approximate.

use super::problems::{LINEAR_A, Problem};
use crate::rng::Rng;

/// A 2D Gaussian `N(mean, cov)` (row-major `cov`).
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian2 {
    pub mean: [f64; 2],
    pub cov: [[f64; 2]; 2],
}

impl Gaussian2 {
    /// The Cholesky factor `L` with `L Lᵀ = cov`.
    pub fn cholesky(&self) -> [[f64; 2]; 2] {
        let [[a, b], [_, d]] = self.cov;
        let l11 = a.sqrt();
        let l21 = b / l11;
        let l22 = (d - l21 * l21).max(0.0).sqrt();
        [[l11, 0.0], [l21, l22]]
    }

    /// `n` exact draws, flattened `[n, 2]`.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let l = self.cholesky();
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let (e1, e2) = (rng.normal(), rng.normal());
            out.push(self.mean[0] + l[0][0] * e1);
            out.push(self.mean[1] + l[1][0] * e1 + l[1][1] * e2);
        }
        out
    }

    /// `log N(x; mean, cov)`.
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let [[a, b], [c, d]] = self.cov;
        let det = a * d - b * c;
        let (u, v) = (x[0] - self.mean[0], x[1] - self.mean[1]);
        let quad = (d * u * u - (b + c) * u * v + a * v * v) / det;
        -0.5 * quad - 0.5 * det.ln() - (2.0 * std::f64::consts::PI).ln()
    }

    /// The Gaussian of a sample's mean and covariance (`[n, 2]`, divisor `n − 1`).
    pub fn fit(samples: &[f64]) -> Self {
        let n = (samples.len() / 2) as f64;
        let mut mean = [0.0; 2];
        for p in samples.chunks(2) {
            mean[0] += p[0] / n;
            mean[1] += p[1] / n;
        }
        let mut cov = [[0.0; 2]; 2];
        for p in samples.chunks(2) {
            let d = [p[0] - mean[0], p[1] - mean[1]];
            for i in 0..2 {
                for j in 0..2 {
                    cov[i][j] += d[i] * d[j] / (n - 1.0);
                }
            }
        }
        Self { mean, cov }
    }

    /// `KL(self ‖ other)` in nats:
    /// `½ [tr(Σ₂⁻¹Σ₁) + (μ₂ − μ₁)ᵀ Σ₂⁻¹ (μ₂ − μ₁) − 2 + ln(det Σ₂ / det Σ₁)]`.
    pub fn kl_to(&self, other: &Self) -> f64 {
        let [[a, b], [c, d]] = other.cov;
        let det2 = a * d - b * c;
        let inv = [[d / det2, -b / det2], [-c / det2, a / det2]];
        let s1 = self.cov;
        let det1 = s1[0][0] * s1[1][1] - s1[0][1] * s1[1][0];
        let mut trace = 0.0;
        for (i, row) in inv.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                trace += v * s1[j][i];
            }
        }
        let dm = [other.mean[0] - self.mean[0], other.mean[1] - self.mean[1]];
        let mut quad = 0.0;
        for i in 0..2 {
            for j in 0..2 {
                quad += dm[i] * inv[i][j] * dm[j];
            }
        }
        0.5 * (trace + quad - 2.0 + (det2 / det1).ln())
    }
}

/// The exact posterior of the linear-Gaussian problem given `y`.
pub fn linear_gaussian_posterior(y: &[f64]) -> Gaussian2 {
    let s2 = Problem::LinearGaussian.noise_std().powi(2);
    let a = LINEAR_A;
    // Precision Λ = AᵀA/σ² + I.
    let mut lam = [[0.0; 2]; 2];
    for (i, row) in lam.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (a[0][i] * a[0][j] + a[1][i] * a[1][j]) / s2 + if i == j { 1.0 } else { 0.0 };
        }
    }
    let det = lam[0][0] * lam[1][1] - lam[0][1] * lam[1][0];
    let cov = [
        [lam[1][1] / det, -lam[0][1] / det],
        [-lam[1][0] / det, lam[0][0] / det],
    ];
    let aty = [
        (a[0][0] * y[0] + a[1][0] * y[1]) / s2,
        (a[0][1] * y[0] + a[1][1] * y[1]) / s2,
    ];
    let mean = [
        cov[0][0] * aty[0] + cov[0][1] * aty[1],
        cov[1][0] * aty[0] + cov[1][1] * aty[1],
    ];
    Gaussian2 { mean, cov }
}

/// Why rejection sampling gave up.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "rejection sampling accepted {accepted} of {wanted} draws after {tried} prior draws: the observation is too unlikely under the prior"
)]
pub struct RejectionError {
    pub accepted: usize,
    pub wanted: usize,
    pub tried: usize,
}

/// `n` exact draws of `p(θ | y)` by rejection from the prior (flattened `[n, theta_dim]`), at
/// most `max_tries` prior draws.
pub fn rejection_posterior(
    problem: Problem,
    y: &[f64],
    n: usize,
    max_tries: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, RejectionError> {
    let mut out = Vec::with_capacity(n * problem.theta_dim());
    let mut accepted = 0;
    for _ in 0..max_tries {
        if accepted == n {
            return Ok(out);
        }
        let theta = problem.sample_prior(rng);
        if rng.uniform().ln() < problem.log_likelihood_kernel(y, &theta) {
            out.extend(theta);
            accepted += 1;
        }
    }
    if accepted == n {
        Ok(out)
    } else {
        Err(RejectionError {
            accepted,
            wanted: n,
            tried: max_tries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_reproduces_the_exact_linear_gaussian_posterior() {
        let mut rng = Rng::new(3);
        let theta = [0.4, -0.9];
        let y = Problem::LinearGaussian.simulate(&theta, &mut rng);
        let exact = linear_gaussian_posterior(&y);
        let samples = rejection_posterior(Problem::LinearGaussian, &y, 4000, 50_000_000, &mut rng)
            .expect("a typical observation");
        let fitted = Gaussian2::fit(&samples);
        let kl = exact.kl_to(&fitted);
        // 4000 draws: the KL of a fitted 2D Gaussian is ≈ (d + d(d+1)/2)/(2n) ≈ 6e-4 on average.
        assert!(kl < 5e-3, "KL(exact ‖ rejection) = {kl}");
        // The posterior is as ill-conditioned as promised: std ≈ 0.05 across, ≈ 1 along.
        let cross = (exact.cov[0][0] + exact.cov[1][1] + 2.0 * exact.cov[0][1]) / 2.0;
        let along = (exact.cov[0][0] + exact.cov[1][1] - 2.0 * exact.cov[0][1]) / 2.0;
        assert!(cross.sqrt() < 0.06 && along.sqrt() > 0.6, "{cross} {along}");
    }

    #[test]
    fn kl_is_zero_for_equal_gaussians_and_matches_a_known_value() {
        let g = Gaussian2 {
            mean: [0.0, 0.0],
            cov: [[1.0, 0.0], [0.0, 1.0]],
        };
        assert!(g.kl_to(&g).abs() < 1e-12);
        // KL(N(0, I) ‖ N((1, 0), 2I)) = ½ [2·½ + ½ − 2 + 2 ln 2].
        let h = Gaussian2 {
            mean: [1.0, 0.0],
            cov: [[2.0, 0.0], [0.0, 2.0]],
        };
        let expected = 0.5 * (1.0 + 0.5 - 2.0 + 2.0 * 2f64.ln());
        assert!((g.kl_to(&h) - expected).abs() < 1e-12);
        let x = [0.3, -0.2];
        let ld = h.log_density(&x);
        let direct = -0.5 * (0.49 + 0.04) / 2.0 - 2f64.ln() - (2.0 * std::f64::consts::PI).ln();
        assert!((ld - direct).abs() < 1e-12);
    }

    #[test]
    fn an_impossible_observation_is_reported() {
        let mut rng = Rng::new(1);
        let err = rejection_posterior(Problem::Ring, &[40.0], 10, 10_000, &mut rng).unwrap_err();
        assert_eq!(err.accepted, 0);
        assert!(err.to_string().contains("too unlikely"));
    }
}
