//! Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788): for pairs
//! `(θ*, y) ~ p(θ) p(y | θ)` and `L` draws `θ⁽ˡ⁾ ~ q(θ | y)`, the rank of the truth in each
//! coordinate, `r_j = #{l : θ⁽ˡ⁾_j < θ*_j} ∈ {0, …, L}`, is uniform over its `L + 1` values
//! when `q` is the true posterior (averaged over the prior, so a posterior can only pass if it
//! is right on average over every observation the prior predicts). Too many ranks at the ends
//! (a ∪ histogram) means an overconfident posterior, a ∩ one an underconfident posterior, a
//! slope a biased one.
//!
//! Uniformity is tested per coordinate by Kolmogorov–Smirnov on the jittered ranks
//! `u = (r + U(0, 1)) / (L + 1)`, which are exactly `U(0, 1)` under calibration, so the test's
//! p-value is itself uniform for a calibrated posterior; the p-value uses Stephens' small-sample
//! correction of the Kolmogorov distribution (Press et al., *Numerical Recipes*, §14.3).
//!
//! # Shapes
//! One pair at a time: the truth `[D]` and its `L` posterior draws `[L, D]`.

use serde::Serialize;

use super::metrics::draws_below;
use crate::rng::Rng;

/// Bins of the rank histograms (the figure and the summary).
pub const RANK_BINS: usize = 20;

/// The ranks of the truths among their posterior draws, per coordinate.
#[derive(Clone, Debug)]
pub struct Ranks {
    /// Draws per pair `L`.
    draws_per_pair: usize,
    /// `ranks[j]`: the ranks of coordinate `j`, one per pair.
    ranks: Vec<Vec<usize>>,
}

/// The summary of a calibration run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Calibration {
    pub pairs: usize,
    pub draws_per_pair: usize,
    /// Per coordinate: the Kolmogorov–Smirnov distance of the jittered ranks from `U(0, 1)`.
    pub ks_statistic: Vec<f64>,
    /// Per coordinate: its p-value.
    pub ks_p_value: Vec<f64>,
    /// Per coordinate: the counts of ranks in [`RANK_BINS`] equal bins of `[0, L + 1)`.
    pub histogram: Vec<Vec<usize>>,
}

impl Ranks {
    pub fn new(dim: usize, draws_per_pair: usize) -> Self {
        Self {
            draws_per_pair,
            ranks: vec![Vec::new(); dim],
        }
    }

    /// Adds one pair: the truth `[D]` and `L` draws `[L, D]`.
    pub fn add(&mut self, truth: &[f64], draws: &[f64]) {
        let d = truth.len();
        for (j, t) in truth.iter().enumerate() {
            self.ranks[j].push(draws_below(draws, d, j, *t));
        }
    }

    /// The per-coordinate tests and histograms (jitter seeded by `seed`).
    pub fn summary(&self, seed: u64) -> Calibration {
        let mut rng = Rng::new(seed);
        let slots = (self.draws_per_pair + 1) as f64;
        let mut out = Calibration {
            pairs: self.ranks.first().map_or(0, Vec::len),
            draws_per_pair: self.draws_per_pair,
            ks_statistic: Vec::new(),
            ks_p_value: Vec::new(),
            histogram: Vec::new(),
        };
        for ranks in &self.ranks {
            let mut u: Vec<f64> = ranks
                .iter()
                .map(|&r| (r as f64 + rng.uniform()) / slots)
                .collect();
            let (d, p) = ks_uniform(&mut u);
            out.ks_statistic.push(d);
            out.ks_p_value.push(p);
            let mut h = vec![0; RANK_BINS];
            for &r in ranks {
                h[((r as f64 / slots * RANK_BINS as f64) as usize).min(RANK_BINS - 1)] += 1;
            }
            out.histogram.push(h);
        }
        out
    }
}

/// The Kolmogorov–Smirnov distance of `values` (sorted in place) from `U(0, 1)` and its
/// p-value `Q_KS((√n + 0.12 + 0.11/√n) D)`, `Q_KS(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}`.
pub fn ks_uniform(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let d = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (v - i as f64 / n).max((i + 1) as f64 / n - v))
        .fold(0.0, f64::max);
    let root = n.sqrt();
    let lambda = (root + 0.12 + 0.11 / root) * d;
    (d, kolmogorov_q(lambda))
}

/// `Q_KS(λ)`, the Kolmogorov distribution's upper tail (1 at `λ → 0`).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = k as f64;
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += if k as usize % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kolmogorov_tail_matches_tabulated_values() {
        // Critical values of the asymptotic distribution: P(√n D > 1.358) = 0.05,
        // P(√n D > 1.628) = 0.01, P(√n D > 1.224) = 0.10.
        for (lambda, p) in [(1.358, 0.05), (1.628, 0.01), (1.224, 0.10)] {
            let q = kolmogorov_q(lambda);
            assert!((q - p).abs() < 5e-4, "Q({lambda}) = {q}, want {p}");
        }
    }

    /// Ranks of `θ* ~ N(0, 1)` among `L` draws of `N(bias, scale²)`, 1000 pairs.
    fn ranks_of(scale: f64, bias: f64, seed: u64) -> Calibration {
        let mut rng = Rng::new(seed);
        let mut ranks = Ranks::new(1, 99);
        for _ in 0..1000 {
            let truth = [rng.normal()];
            let draws: Vec<f64> = (0..99).map(|_| bias + scale * rng.normal()).collect();
            ranks.add(&truth, &draws);
        }
        ranks.summary(seed + 100)
    }

    #[test]
    fn calibrated_draws_pass_and_wrong_widths_or_biases_fail() {
        // The right posterior (here, the prior itself, since nothing is observed).
        let p_calibrated: Vec<f64> = (0..20)
            .map(|s| ranks_of(1.0, 0.0, s).ks_p_value[0])
            .collect();
        // Uniform p-values: about a tenth below 0.1, most above 0.01.
        let low = p_calibrated.iter().filter(|&&p| p < 0.01).count();
        assert!(low <= 1, "{p_calibrated:?}");
        for (scale, bias) in [(0.8, 0.0), (1.25, 0.0), (1.0, 0.15)] {
            let c = ranks_of(scale, bias, 1);
            assert!(c.ks_p_value[0] < 1e-3, "scale {scale}, bias {bias}: {c:?}");
        }
        let c = ranks_of(1.0, 0.0, 7);
        assert_eq!(c.histogram[0].iter().sum::<usize>(), 1000);
        assert_eq!((c.pairs, c.draws_per_pair), (1000, 99));
    }
}
