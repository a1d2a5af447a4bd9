//! The figures of a trained posterior against the reference ([`super::reference`]), as the JSON
//! `flowplay fit-posterior` prints: coverage of credible intervals over test pairs from the
//! joint; on linear-Gaussian the KL from the exact posterior (from the learned samples'
//! moments, and from `log q` by Monte Carlo over exact draws) and the error of the posterior
//! mean and covariance; on the others the MMD² to exact rejection samples (beside the MMD² of
//! two independent reference samples: the floor a perfect model would reach) and the
//! re-simulation error (beside the reference's own).

use burn::tensor::Device;
use serde::Serialize;

use super::fit::{Method, log_q, posterior_samples};
use super::metrics::{Coverage, LEVELS, mmd2, resimulation_error};
use super::problems::Problem;
use super::reference::{Gaussian2, linear_gaussian_posterior, rejection_posterior};
use crate::flows::Flow;
use crate::rng::Rng;

/// How much evaluation to do.
#[derive(Clone, Debug, Serialize)]
pub struct EvalSettings {
    /// Test pairs `(θ, y)` from the joint for coverage.
    pub test_pairs: usize,
    /// Posterior draws per test pair.
    pub samples_per_pair: usize,
    /// Observations compared with the reference posterior (drawn from the joint; one whose
    /// rejection sampler runs out of tries is skipped and counted).
    pub reference_observations: usize,
    /// Draws from each side for those comparisons.
    pub reference_samples: usize,
    /// Most prior draws rejection sampling may spend per observation.
    pub max_rejection_tries: usize,
}

impl EvalSettings {
    pub fn full() -> Self {
        Self {
            test_pairs: 500,
            samples_per_pair: 200,
            reference_observations: 10,
            reference_samples: 1000,
            max_rejection_tries: 50_000_000,
        }
    }

    pub fn quick() -> Self {
        Self {
            test_pairs: 100,
            samples_per_pair: 100,
            reference_observations: 2,
            reference_samples: 300,
            max_rejection_tries: 20_000_000,
        }
    }
}

/// The figures, each `None` where the problem or method has no such figure.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    /// Coverage at 50, 90 and 95 %.
    pub coverage: [f64; 3],
    pub test_pairs: usize,
    /// Linear-Gaussian: mean over the reference observations of KL(exact ‖ N(learned moments)).
    pub kl_moments: Option<f64>,
    /// Linear-Gaussian, conditional flows: mean of `E_exact[log p(θ|y) − log q(θ|y)]`.
    pub kl_log_q: Option<f64>,
    /// Linear-Gaussian: largest `|μ_learned − μ_exact|` over coordinates and observations.
    pub mean_error: Option<f64>,
    /// Linear-Gaussian: largest `|Σ_learned − Σ_exact|` entry over observations.
    pub cov_error: Option<f64>,
    /// Arm and ring: mean MMD² between learned and rejection samples.
    pub mmd2: Option<f64>,
    /// Arm and ring: mean MMD² between two independent rejection samples (the floor).
    pub mmd2_floor: Option<f64>,
    /// Mean `‖f(θ̂) − y‖` of learned draws over the reference observations.
    pub resim_error: f64,
    /// The same for exact posterior draws.
    pub resim_error_reference: f64,
    /// Reference observations skipped because rejection sampling ran out of tries (too far in
    /// the prior predictive's tails).
    pub reference_skipped: usize,
}

/// Evaluates a trained `flow` (plain device) of `method` on `problem`.
pub fn evaluate(
    method: Method,
    flow: &Flow,
    problem: Problem,
    settings: &EvalSettings,
    seed: u64,
    device: &Device,
) -> Result<Metrics, String> {
    let mut rng = Rng::new(seed ^ 0xE7A1);
    let d = problem.theta_dim();
    let mut metrics = Metrics {
        test_pairs: settings.test_pairs,
        ..Metrics::default()
    };

    // Coverage over test pairs, a chunk of pairs per batch.
    let (thetas, ys) = problem.sample_joint(settings.test_pairs, &mut rng);
    let mut coverage = Coverage::default();
    let chunk = (20_000 / settings.samples_per_pair.max(1)).max(1);
    for (t, y) in thetas
        .chunks(chunk * d)
        .zip(ys.chunks(chunk * problem.obs_dim()))
    {
        let (draws, _) = posterior_samples(
            method,
            flow,
            problem,
            y,
            settings.samples_per_pair,
            &mut rng,
            device,
        )
        .map_err(|e| e.to_string())?;
        for (truth, s) in t.chunks(d).zip(draws.chunks(settings.samples_per_pair * d)) {
            coverage.add(truth, s);
        }
    }
    metrics.coverage = coverage.fractions();

    // Against the reference posterior at a few typical observations.
    let (_, refs) = problem.sample_joint(settings.reference_observations, &mut rng);
    let n = settings.reference_samples;
    let mut sums = Sums::default();
    for y in refs.chunks(problem.obs_dim()) {
        // The reference first: an observation rejection cannot sample is skipped.
        let reference = match problem {
            Problem::LinearGaussian => Reference::Exact(linear_gaussian_posterior(y)),
            Problem::Arm | Problem::Ring => {
                let tries = settings.max_rejection_tries;
                match (
                    rejection_posterior(problem, y, n, tries, &mut rng),
                    rejection_posterior(problem, y, n, tries, &mut rng),
                ) {
                    (Ok(a), Ok(b)) => Reference::Samples(a, b),
                    _ => {
                        metrics.reference_skipped += 1;
                        continue;
                    }
                }
            }
        };
        let (learned, _) = posterior_samples(method, flow, problem, y, n, &mut rng, device)
            .map_err(|e| e.to_string())?;
        metrics.resim_error += resimulation_error(problem, y, &learned);
        let exact = match reference {
            Reference::Exact(post) => {
                let exact = post.sample(n, &mut rng);
                let fitted = Gaussian2::fit(&learned);
                sums.kl_moments += post.kl_to(&fitted);
                sums.mean_error = (0..2)
                    .map(|j| (fitted.mean[j] - post.mean[j]).abs())
                    .fold(sums.mean_error, f64::max);
                sums.cov_error = (0..4)
                    .map(|k| (fitted.cov[k / 2][k % 2] - post.cov[k / 2][k % 2]).abs())
                    .fold(sums.cov_error, f64::max);
                if method == Method::Cflow {
                    let ys: Vec<f64> = std::iter::repeat_n(y, n).flatten().copied().collect();
                    let lq =
                        log_q(flow, problem, &exact, &ys, device).map_err(|e| e.to_string())?;
                    let gap: f64 = exact
                        .chunks(2)
                        .zip(&lq)
                        .map(|(t, q)| post.log_density(t) - q)
                        .sum::<f64>();
                    sums.kl_log_q += gap / n as f64;
                }
                exact
            }
            Reference::Samples(exact, second) => {
                sums.mmd2 += mmd2(&learned, &exact, d);
                sums.mmd2_floor += mmd2(&second, &exact, d);
                exact
            }
        };
        metrics.resim_error_reference += resimulation_error(problem, y, &exact);
    }
    let used = settings.reference_observations - metrics.reference_skipped;
    if used == 0 {
        return Err(format!(
            "rejection sampling ran out of tries ({} prior draws) at every reference observation",
            settings.max_rejection_tries
        ));
    }
    let k = used as f64;
    metrics.resim_error /= k;
    metrics.resim_error_reference /= k;
    match problem {
        Problem::LinearGaussian => {
            metrics.kl_moments = Some(sums.kl_moments / k);
            metrics.kl_log_q = (method == Method::Cflow).then_some(sums.kl_log_q / k);
            metrics.mean_error = Some(sums.mean_error);
            metrics.cov_error = Some(sums.cov_error);
        }
        Problem::Arm | Problem::Ring => {
            metrics.mmd2 = Some(sums.mmd2 / k);
            metrics.mmd2_floor = Some(sums.mmd2_floor / k);
        }
    }
    Ok(metrics)
}

/// The reference posterior at one observation: exact in closed form, or two independent exact
/// samples (the second for the MMD² floor).
enum Reference {
    Exact(Gaussian2),
    Samples(Vec<f64>, Vec<f64>),
}

#[derive(Default)]
struct Sums {
    kl_moments: f64,
    kl_log_q: f64,
    mean_error: f64,
    cov_error: f64,
    mmd2: f64,
    mmd2_floor: f64,
}

/// The coverage levels as JSON keys.
pub fn coverage_json(coverage: [f64; 3]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (level, value) in LEVELS.iter().zip(coverage) {
        map.insert(format!("{level}"), serde_json::json!(value));
    }
    serde_json::Value::Object(map)
}
