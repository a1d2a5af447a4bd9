//! Is an observation one the amortised posterior was trained on? An amortised `q(θ | y)` is
//! only fitted where the training simulations put observations — the prior predictive
//! `p(y) = ∫ p(θ) p(y | θ) dθ` — and may drift far from the true posterior outside it
//! (on the linear-Gaussian problem, KL 0.0003 at a typical `y`, 0.5 at `y = (1.5, −0.5)`).
//! This module says how typical `y` is, from simulations alone (no likelihood needed):
//!
//! - **Density**: a Gaussian kernel density estimate over `n` simulated observations
//!   `y_i ~ p(y)`, with the bandwidth matrix `H = h² Σ̂` (`Σ̂` their sample covariance, Scott's
//!   factor `h = n^{−1/(m+4)}`; Scott 1992, as `scipy.stats.gaussian_kde` does), so that a thin,
//!   tilted predictive (the linear-Gaussian one is 0.15 wide across and 2 along) gets a kernel
//!   of its own shape: `log p̂(y) = log (1/n) Σ_i N(y; y_i, H)`, computed with log-sum-exp so
//!   that a far `y` gets a finite (very negative) value.
//! - **Quantile**: the fraction of other, held-out simulated observations `y_j` whose density
//!   is at most `y`'s, `q(y) = #{j : p̂(y_j) ≤ p̂(y)} / n_ref`. For an observation drawn from the
//!   prior predictive itself `q` is uniform on `[0, 1]`, so a warning below [`WARN_QUANTILE`]
//!   fires for 1 % of the observations the posterior was trained on, and for every observation
//!   less typical than 99 % of them.
//!
//! # Shapes
//! Observations are flattened `[n, m]` rows of `f64`, `m` = the problem's observation size.

use super::problems::Problem;
use crate::numeric::{cholesky_lower, lower_inverse, mean_and_covariance};
use crate::rng::Rng;

/// Observations less typical than this fraction of simulated ones are flagged.
pub const WARN_QUANTILE: f64 = 0.01;
/// Simulated observations the density estimate is built from.
pub const FIT_SIMULATIONS: usize = 4000;
/// Held-out simulated observations the quantile is counted among.
pub const REFERENCE_SIMULATIONS: usize = 1000;
/// Seed of the simulations the CLI and the page estimate from (fixed, so that one observation
/// always gets the same verdict).
pub const PREDICTIVE_SEED: u64 = 0x5EED;

/// A kernel density estimate of the prior predictive with the densities of held-out
/// simulations to rank an observation among.
#[derive(Clone, Debug)]
pub struct PriorPredictive {
    m: usize,
    /// The fitted observations, whitened: `L⁻¹ y_i` with `L Lᵀ = H`.
    whitened: Vec<f64>,
    /// `L⁻¹` (lower triangular, row-major `[m, m]`).
    inverse_factor: Vec<f64>,
    /// `−log n − (m/2) log 2π − log det L`.
    log_norm: f64,
    /// The held-out simulations' log-densities, ascending.
    reference: Vec<f64>,
}

/// How typical one observation is.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Typicality {
    /// `log p̂(y)` (nats).
    pub log_density: f64,
    /// The fraction of held-out simulated observations with a density at most `y`'s.
    pub quantile: f64,
    /// `quantile < WARN_QUANTILE`: the posterior was hardly trained near `y`.
    pub warning: bool,
}

impl Typicality {
    /// One line for a person: the quantile, and the warning when there is one.
    pub fn describe(&self) -> String {
        let base = format!(
            "prior predictive: log density {:.1}; {:.1} % of simulated observations are less typical",
            self.log_density,
            100.0 * self.quantile
        );
        if self.warning {
            format!(
                "{base} — outside what the posterior was trained on (below {} %): its draws may be far from the true posterior",
                100.0 * WARN_QUANTILE
            )
        } else {
            base
        }
    }
}

impl PriorPredictive {
    /// The estimate for `problem` with observation noise `noise_std` (the noise the posterior
    /// was trained with) from [`FIT_SIMULATIONS`] + [`REFERENCE_SIMULATIONS`] fresh simulations
    /// seeded by `seed`.
    pub fn simulate(problem: Problem, noise_std: f64, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let (_, fit) = problem.sample_joint_with(FIT_SIMULATIONS, noise_std, &mut rng);
        let (_, reference) = problem.sample_joint_with(REFERENCE_SIMULATIONS, noise_std, &mut rng);
        Self::from_observations(&fit, &reference, problem.obs_dim())
    }

    /// The estimate over `fit [n, m]`, ranking against `reference [k, m]`.
    pub fn from_observations(fit: &[f64], reference: &[f64], m: usize) -> Self {
        let n = fit.len() / m;
        let factor = (n as f64).powf(-1.0 / (m as f64 + 4.0));
        let mut cov = covariance(fit, m);
        for v in &mut cov {
            *v *= factor * factor;
        }
        let l = cholesky_lower(&cov, m, PIVOT_FLOOR);
        let inverse_factor = lower_inverse(&l, m);
        let log_det: f64 = (0..m).map(|i| l[i * m + i].ln()).sum();
        let mut estimate = Self {
            m,
            whitened: fit
                .chunks(m)
                .flat_map(|y| apply(&inverse_factor, y, m))
                .collect(),
            inverse_factor,
            log_norm: -(n as f64).ln()
                - 0.5 * m as f64 * (2.0 * std::f64::consts::PI).ln()
                - log_det,
            reference: Vec::new(),
        };
        let mut densities: Vec<f64> = reference
            .chunks(m)
            .map(|y| estimate.log_density(y))
            .collect();
        densities.sort_by(f64::total_cmp);
        estimate.reference = densities;
        estimate
    }

    /// `log p̂(y)`.
    pub fn log_density(&self, y: &[f64]) -> f64 {
        let z = apply(&self.inverse_factor, y, self.m);
        let exponents: Vec<f64> = self
            .whitened
            .chunks(self.m)
            .map(|zi| -0.5 * zi.iter().zip(&z).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
            .collect();
        let top = exponents.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = exponents.iter().map(|e| (e - top).exp()).sum();
        top + sum.ln() + self.log_norm
    }

    /// How typical `y` is among the simulated observations.
    pub fn check(&self, y: &[f64]) -> Typicality {
        let log_density = self.log_density(y);
        let below = self.reference.partition_point(|&d| d <= log_density);
        let quantile = below as f64 / self.reference.len().max(1) as f64;
        Typicality {
            log_density,
            quantile,
            warning: quantile < WARN_QUANTILE,
        }
    }
}

/// Pivots of the bandwidth's Cholesky factor are at least this (rounding cannot make a kernel
/// singular).
const PIVOT_FLOOR: f64 = 1e-300;

/// The sample covariance `[m, m]` of `rows [n, m]` (divisor `n − 1`), with a floor of 1e-12 on
/// the diagonal so that a constant coordinate still has a kernel.
fn covariance(rows: &[f64], m: usize) -> Vec<f64> {
    let n = rows.len() / m;
    let (_, mut cov) = mean_and_covariance(rows, m, n as f64 - 1.0);
    for i in 0..m {
        cov[i * m + i] = cov[i * m + i].max(1e-12);
    }
    cov
}

/// `a · y` for a row-major `a [m, m]`.
fn apply(a: &[f64], y: &[f64], m: usize) -> Vec<f64> {
    (0..m)
        .map(|i| (0..m).map(|k| a[i * m + k] * y[k]).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `log N(y; 0, C)` for a 2×2 `C`.
    fn log_normal2(y: &[f64], c: [[f64; 2]; 2]) -> f64 {
        let det = c[0][0] * c[1][1] - c[0][1] * c[1][0];
        let quad =
            (c[1][1] * y[0] * y[0] - 2.0 * c[0][1] * y[0] * y[1] + c[0][0] * y[1] * y[1]) / det;
        -0.5 * quad - 0.5 * det.ln() - (2.0 * std::f64::consts::PI).ln()
    }

    #[test]
    fn the_estimate_follows_the_exact_linear_gaussian_predictive() {
        // y = Aθ + ε with θ ~ N(0, I): p(y) = N(0, AAᵀ + σ²I) exactly.
        let a = super::super::problems::LINEAR_A;
        let s2 = Problem::LinearGaussian.noise_std().powi(2);
        let mut c = [[0.0; 2]; 2];
        for (i, row) in c.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = a[i][0] * a[j][0] + a[i][1] * a[j][1] + if i == j { s2 } else { 0.0 };
            }
        }
        let kde = PriorPredictive::simulate(Problem::LinearGaussian, 0.1, 1);
        // Typical points: the estimate is within 0.3 nats of the truth (a KDE's bias at the
        // kernel width, ~n^{-1/6}, and its noise).
        for y in [[0.0, 0.0], [1.0, 1.1], [-2.0, -2.1]] {
            let (est, exact) = (kde.log_density(&y), log_normal2(&y, c));
            assert!((est - exact).abs() < 0.3, "{y:?}: {est} vs {exact}");
        }
        // The typical ones are typical; one 13 predictive standard deviations across the thin
        // direction is flagged, and so is one far along it.
        assert!(!kde.check(&[1.0, 1.1]).warning);
        assert!(kde.check(&[0.0, 0.0]).quantile > 0.3);
        for far in [[1.5, -0.5], [9.0, 9.2]] {
            let t = kde.check(&far);
            assert!(t.warning && t.quantile == 0.0, "{far:?}: {t:?}");
            assert!(t.log_density.is_finite() && t.log_density < -20.0, "{t:?}");
        }
    }

    #[test]
    fn observations_from_the_prior_predictive_get_uniform_quantiles() {
        // The quantile of a fresh prior-predictive draw is uniform, so the warning fires for
        // about WARN_QUANTILE of them (here: the ring, 2000 fresh observations).
        let kde = PriorPredictive::simulate(Problem::Ring, 0.1, 2);
        let mut rng = Rng::new(3);
        let (_, ys) = Problem::Ring.sample_joint(2000, &mut rng);
        let q: Vec<f64> = ys.iter().map(|y| kde.check(&[*y]).quantile).collect();
        let below_half = q.iter().filter(|&&v| v < 0.5).count() as f64 / q.len() as f64;
        let warned = q.iter().filter(|&&v| v < WARN_QUANTILE).count() as f64 / q.len() as f64;
        assert!((below_half - 0.5).abs() < 0.04, "{below_half}");
        assert!(warned < 0.025, "{warned}");
    }

    #[test]
    fn the_factors_invert_and_whiten() {
        let a = [4.0, 2.0, 0.6, 2.0, 2.0, 0.5, 0.6, 0.5, 3.0];
        let l = cholesky_lower(&a, 3, PIVOT_FLOOR);
        let inv = lower_inverse(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let llt: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                let id: f64 = (0..3).map(|k| inv[i * 3 + k] * l[k * 3 + j]).sum();
                assert!((llt - a[i * 3 + j]).abs() < 1e-12);
                assert!((id - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
