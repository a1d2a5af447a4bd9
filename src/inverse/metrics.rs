//! How close a learned posterior is to the reference: the maximum mean discrepancy between two
//! samples, the coverage of credible intervals, and the re-simulation error.
//!
//! - `MMD²` (Gretton et al. 2012, the unbiased U-statistic, eq. 3) with the sum of inverse
//!   multiquadric kernels `k(a, b) = Σ_h h² / (h² + ‖a − b‖²)`, `h ∈ {0.05, 0.2, 0.9}` — the
//!   kernel Ardizzone et al. 2019 train and evaluate their INNs with. 0 in expectation when both
//!   samples come from one distribution; may then be slightly negative.
//! - Coverage at level `α`: the fraction of (test pair, coordinate) where the true `θ_j` lies in
//!   the central `α` interval of the posterior samples' `j`-th marginal (`α` of them for a
//!   calibrated posterior, SBC-style; Talts et al. 2018).
//! - Re-simulation error: the mean `‖f(θ̂) − y‖` over posterior draws `θ̂` (Kruse et al. 2021).

use super::problems::Problem;

/// The bandwidths of the inverse multiquadric kernels.
pub const MMD_BANDWIDTHS: [f64; 3] = [0.05, 0.2, 0.9];

fn kernel(a: &[f64], b: &[f64]) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    MMD_BANDWIDTHS.iter().map(|h| h * h / (h * h + d2)).sum()
}

/// Unbiased `MMD²` between samples `x [n, d]` and `y [m, d]` (flattened).
pub fn mmd2(x: &[f64], y: &[f64], d: usize) -> f64 {
    let xs: Vec<&[f64]> = x.chunks(d).collect();
    let ys: Vec<&[f64]> = y.chunks(d).collect();
    let within = |s: &[&[f64]]| -> f64 {
        let n = s.len() as f64;
        let mut total = 0.0;
        for (i, a) in s.iter().enumerate() {
            for b in &s[i + 1..] {
                total += kernel(a, b);
            }
        }
        2.0 * total / (n * (n - 1.0))
    };
    let mut cross = 0.0;
    for a in &xs {
        for b in &ys {
            cross += kernel(a, b);
        }
    }
    within(&xs) + within(&ys) - 2.0 * cross / (xs.len() * ys.len()) as f64
}

/// The credible levels coverage is reported at.
pub const LEVELS: [f64; 3] = [0.5, 0.9, 0.95];

/// Coverage counts of central credible intervals, accumulated one test pair at a time.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    hits: [usize; 3],
    total: usize,
}

impl Coverage {
    /// Adds one test pair: the true `θ` and `S` posterior samples `[S, d]` for its observation.
    pub fn add(&mut self, truth: &[f64], samples: &[f64]) {
        let d = truth.len();
        let s = samples.len() / d;
        for (j, t) in truth.iter().enumerate() {
            let below = draws_below(samples, d, j, *t);
            let rank = (below as f64 + 0.5) / s as f64;
            for (hit, level) in self.hits.iter_mut().zip(LEVELS) {
                let tail = (1.0 - level) / 2.0;
                if rank >= tail && rank <= 1.0 - tail {
                    *hit += 1;
                }
            }
            self.total += 1;
        }
    }

    /// The fraction covered at each of [`LEVELS`].
    pub fn fractions(&self) -> [f64; 3] {
        self.hits.map(|h| h as f64 / self.total.max(1) as f64)
    }
}

/// How many rows of `draws [S, d]` have coordinate `j` below `t` (the rank of a truth `t`
/// among posterior draws; coverage and simulation-based calibration both count it).
pub fn draws_below(draws: &[f64], d: usize, j: usize, t: f64) -> usize {
    draws.chunks(d).filter(|row| row[j] < t).count()
}

/// The mean `‖f(θ̂) − y‖` over `samples [S, theta_dim]`.
pub fn resimulation_error(problem: Problem, y: &[f64], samples: &[f64]) -> f64 {
    let d = problem.theta_dim();
    let n = samples.len() / d;
    samples
        .chunks(d)
        .map(|t| {
            problem
                .forward(t)
                .iter()
                .zip(y)
                .map(|(f, y)| (f - y).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn normals(n: usize, shift: f64, rng: &mut Rng) -> Vec<f64> {
        (0..2 * n).map(|_| rng.normal() + shift).collect()
    }

    #[test]
    fn mmd_separates_different_distributions_and_not_equal_ones() {
        let mut rng = Rng::new(2);
        let a = normals(400, 0.0, &mut rng);
        let b = normals(400, 0.0, &mut rng);
        let c = normals(400, 0.5, &mut rng);
        let same = mmd2(&a, &b, 2);
        let different = mmd2(&a, &c, 2);
        assert!(same.abs() < 5e-3, "same distribution: {same}");
        assert!(
            different > 10.0 * same.abs().max(1e-4),
            "{different} vs {same}"
        );
    }

    #[test]
    fn a_calibrated_posterior_covers_at_its_levels_and_a_narrow_one_does_not() {
        // θ ~ N(0, 1); "posterior" samples from N(0, 1) are calibrated, N(0, 0.3²) overconfident.
        let mut rng = Rng::new(4);
        let mut good = Coverage::default();
        let mut narrow = Coverage::default();
        for _ in 0..2000 {
            let truth = [rng.normal()];
            let s: Vec<f64> = (0..200).map(|_| rng.normal()).collect();
            let t: Vec<f64> = s.iter().map(|v| 0.3 * v).collect();
            good.add(&truth, &s);
            narrow.add(&truth, &t);
        }
        for (got, level) in good.fractions().iter().zip(LEVELS) {
            assert!((got - level).abs() < 0.03, "{got} at {level}");
        }
        assert!(narrow.fractions()[2] < 0.6, "{:?}", narrow.fractions());
    }

    #[test]
    fn resimulation_error_is_zero_on_the_forward_image() {
        let theta = [0.1, 0.2, -0.3, 0.4];
        let y = Problem::Arm.forward(&theta);
        assert!(resimulation_error(Problem::Arm, &y, &theta) < 1e-12);
        let moved = [0.2, 0.2, -0.3, 0.4];
        assert!((resimulation_error(Problem::Arm, &y, &moved) - 0.1).abs() < 1e-12);
    }
}
