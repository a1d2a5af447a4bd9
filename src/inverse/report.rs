//! The figures of a trained posterior against the reference ([`super::reference`]), as the JSON
//! `flowplay fit-posterior` prints: coverage of credible intervals over test pairs from the
//! joint and simulation-based calibration over the same pairs ([`super::calibration`]); on
//! linear-Gaussian the KL from the exact posterior (from the learned samples'
//! moments, and from `log q` by Monte Carlo over exact draws) and the error of the posterior
//! mean and covariance; on the others the MMD² to exact rejection samples (beside the MMD² of
//! two independent reference samples: the floor a perfect model would reach) and the
//! re-simulation error (beside the reference's own).

use burn::tensor::Device;
use serde::Serialize;

use super::calibration::{Calibration, Ranks};
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
    /// The observation noise of the test pairs (`None`: the problem's own). With `0` the
    /// posterior lives on `{θ : f(θ) = y}` and the references change ([`reference_at`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_std: Option<f64>,
}

impl EvalSettings {
    pub fn full() -> Self {
        Self {
            test_pairs: 500,
            samples_per_pair: 200,
            reference_observations: 10,
            reference_samples: 1000,
            max_rejection_tries: 50_000_000,
            noise_std: None,
        }
    }

    pub fn quick() -> Self {
        Self {
            test_pairs: 100,
            samples_per_pair: 100,
            reference_observations: 2,
            reference_samples: 300,
            max_rejection_tries: 20_000_000,
            noise_std: None,
        }
    }
}

/// The figures, each `None` where the problem or method has no such figure.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    /// Coverage at 50, 90 and 95 %.
    pub coverage: [f64; 3],
    pub test_pairs: usize,
    /// Simulation-based calibration over the same test pairs and draws.
    pub calibration: Option<Calibration>,
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
    /// What the learned posterior was compared with.
    pub reference: &'static str,
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
    let (coverage, calibration) = coverage(method, flow, problem, settings, &mut rng, device)?;
    let mut metrics = Metrics {
        test_pairs: settings.test_pairs,
        coverage,
        calibration: Some(calibration),
        ..Metrics::default()
    };
    // Against the reference posterior at a few typical observations.
    let noise = settings.noise_std.unwrap_or(problem.noise_std());
    let (_, refs) = problem.sample_joint_with(settings.reference_observations, noise, &mut rng);
    let n = settings.reference_samples;
    let mut sums = Sums::default();
    metrics.reference = reference_kind(problem, noise);
    for y in refs.chunks(problem.obs_dim()) {
        // The reference first: an observation rejection cannot sample is skipped.
        let reference = reference_at(problem, y, settings, noise, &mut rng);
        if matches!(reference, Reference::Unavailable) {
            metrics.reference_skipped += 1;
            continue;
        }
        let (learned, _) = posterior_samples(method, flow, problem, y, n, &mut rng, device)
            .map_err(|e| e.to_string())?;
        metrics.resim_error += resimulation_error(problem, y, &learned);
        let exact = match reference {
            Reference::Exact(post) => {
                let exact = post.sample(n, &mut rng);
                sums.add_moments(&post, &Gaussian2::fit(&learned));
                if method == Method::Cflow {
                    sums.kl_log_q += log_q_gap(flow, problem, &post, &exact, y, device)?;
                }
                exact
            }
            Reference::Samples(exact, second) => {
                let d = problem.theta_dim();
                sums.mmd2 += mmd2(&learned, &exact, d);
                sums.mmd2_floor += mmd2(&second, &exact, d);
                exact
            }
            Reference::Point(point) => {
                sums.add_point(&point, &Gaussian2::fit(&learned));
                std::iter::repeat_n(point, n).flatten().collect()
            }
            // The noiseless arm: no reference; the draws are judged by re-simulation alone.
            Reference::None => {
                sums.unreferenced += 1;
                continue;
            }
            Reference::Unavailable => unreachable!("skipped above"),
        };
        metrics.resim_error_reference += resimulation_error(problem, y, &exact);
    }
    let used = settings.reference_observations - metrics.reference_skipped;
    if sums.unreferenced > 0 {
        metrics.resim_error /= sums.unreferenced as f64;
        // No exact draws to re-simulate (serialised as null).
        metrics.resim_error_reference = f64::NAN;
        return Ok(metrics);
    }
    if used == 0 {
        return Err(format!(
            "rejection sampling ran out of tries ({} prior draws) at every reference observation",
            settings.max_rejection_tries
        ));
    }
    sums.average_into(&mut metrics, used as f64, problem, method);
    Ok(metrics)
}

/// The coverage of the central credible intervals over `settings.test_pairs` simulated
/// `(θ, y)` pairs, drawn a chunk of pairs per batch, and the calibration of the same draws.
pub fn coverage(
    method: Method,
    flow: &Flow,
    problem: Problem,
    settings: &EvalSettings,
    rng: &mut Rng,
    device: &Device,
) -> Result<([f64; 3], Calibration), String> {
    let d = problem.theta_dim();
    let noise = settings.noise_std.unwrap_or(problem.noise_std());
    let (thetas, ys) = problem.sample_joint_with(settings.test_pairs, noise, rng);
    let mut coverage = Coverage::default();
    let mut ranks = Ranks::new(d, settings.samples_per_pair);
    let chunk = (20_000 / settings.samples_per_pair.max(1)).max(1);
    for (t, y) in thetas
        .chunks(chunk * d)
        .zip(ys.chunks(chunk * problem.obs_dim()))
    {
        let per_pair = settings.samples_per_pair;
        let (draws, _) = posterior_samples(method, flow, problem, y, per_pair, rng, device)
            .map_err(|e| e.to_string())?;
        for (truth, s) in t.chunks(d).zip(draws.chunks(per_pair * d)) {
            coverage.add(truth, s);
            ranks.add(truth, s);
        }
    }
    Ok((coverage.fractions(), ranks.summary(rng.next_u64())))
}

/// What [`reference_at`] compares with, in words (the summary's `reference`).
fn reference_kind(problem: Problem, noise: f64) -> &'static str {
    match (problem, noise > 0.0) {
        (Problem::LinearGaussian, true) => "the exact Gaussian posterior",
        (_, true) => "exact rejection samples",
        (Problem::LinearGaussian, false) => "the single point A⁻¹y (A is invertible)",
        (Problem::Ring, false) => "the circle ‖θ‖ = y, uniform in angle (the prior is isotropic)",
        (Problem::Arm, false) => {
            "none: the arms reaching y form a 2-manifold in 4D; re-simulation error only"
        }
    }
}

/// The reference posterior at `y`: closed form for the linear-Gaussian problem, two
/// independent rejection samples otherwise ([`Reference::Unavailable`] when rejection runs out
/// of tries). Without noise (`noise = 0`) the posterior lives on `{θ : f(θ) = y}`: the point
/// `A⁻¹y`, the circle of radius `y` (exact draws), or for the arm no reference at all.
fn reference_at(
    problem: Problem,
    y: &[f64],
    settings: &EvalSettings,
    noise: f64,
    rng: &mut Rng,
) -> Reference {
    let n = settings.reference_samples;
    if noise <= 0.0 {
        return match problem {
            Problem::LinearGaussian => {
                let [[a, b], [c, d]] = super::problems::LINEAR_A;
                let det = a * d - b * c;
                Reference::Point(vec![
                    (d * y[0] - b * y[1]) / det,
                    (a * y[1] - c * y[0]) / det,
                ])
            }
            Problem::Ring => {
                let circle = |rng: &mut Rng| -> Vec<f64> {
                    (0..n)
                        .flat_map(|_| {
                            let phi = rng.uniform() * std::f64::consts::TAU;
                            [y[0] * phi.cos(), y[0] * phi.sin()]
                        })
                        .collect()
                };
                Reference::Samples(circle(rng), circle(rng))
            }
            Problem::Arm => Reference::None,
        };
    }
    match problem {
        Problem::LinearGaussian => Reference::Exact(linear_gaussian_posterior(y)),
        Problem::Arm | Problem::Ring => {
            let tries = settings.max_rejection_tries;
            // Both drawn before either is judged, so the generator's stream does not depend on
            // which one ran out of tries.
            let a = rejection_posterior(problem, y, n, tries, rng);
            let b = rejection_posterior(problem, y, n, tries, rng);
            match (a, b) {
                (Ok(a), Ok(b)) => Reference::Samples(a, b),
                _ => Reference::Unavailable,
            }
        }
    }
}

/// `E_p[log p(θ | y) − log q(θ | y)]` over exact draws `exact` from `post`: the KL divergence
/// of the learned density from the exact posterior, estimated with its own log-density.
fn log_q_gap(
    flow: &Flow,
    problem: Problem,
    post: &Gaussian2,
    exact: &[f64],
    y: &[f64],
    device: &Device,
) -> Result<f64, String> {
    let n = exact.len() / 2;
    let ys: Vec<f64> = std::iter::repeat_n(y, n).flatten().copied().collect();
    let lq = log_q(flow, problem, exact, &ys, device).map_err(|e| e.to_string())?;
    let gap: f64 = exact
        .chunks(2)
        .zip(&lq)
        .map(|(t, q)| post.log_density(t) - q)
        .sum();
    Ok(gap / n as f64)
}

/// The reference posterior at one observation: exact in closed form, two independent exact
/// samples (the second for the MMD² floor), a single point (a noiseless invertible problem),
/// none (the noiseless arm), or unavailable (rejection ran out of tries).
enum Reference {
    Exact(Gaussian2),
    Samples(Vec<f64>, Vec<f64>),
    Point(Vec<f64>),
    None,
    Unavailable,
}

#[derive(Default)]
struct Sums {
    kl_moments: f64,
    kl_log_q: f64,
    mean_error: f64,
    cov_error: f64,
    mmd2: f64,
    mmd2_floor: f64,
    /// Observations with no reference (the noiseless arm).
    unreferenced: usize,
    /// Whether the reference was a point (the noiseless linear problem).
    point: bool,
}

impl Sums {
    /// The moment-matched Gaussian of the learned draws against the exact posterior.
    fn add_moments(&mut self, post: &Gaussian2, fitted: &Gaussian2) {
        self.kl_moments += post.kl_to(fitted);
        self.mean_error = (0..2)
            .map(|j| (fitted.mean[j] - post.mean[j]).abs())
            .fold(self.mean_error, f64::max);
        self.cov_error = (0..4)
            .map(|k| (fitted.cov[k / 2][k % 2] - post.cov[k / 2][k % 2]).abs())
            .fold(self.cov_error, f64::max);
    }

    /// The learned draws' moments against a point posterior: the mean's distance and the
    /// largest covariance entry (the exact one is 0).
    fn add_point(&mut self, point: &[f64], fitted: &Gaussian2) {
        self.point = true;
        self.mean_error = (0..2)
            .map(|j| (fitted.mean[j] - point[j]).abs())
            .fold(self.mean_error, f64::max);
        self.cov_error = (0..4)
            .map(|k| fitted.cov[k / 2][k % 2].abs())
            .fold(self.cov_error, f64::max);
    }

    /// The means over `k` reference observations (the largest errors as they are) into
    /// `metrics`, the figures that apply to `problem` and `method`.
    fn average_into(&self, metrics: &mut Metrics, k: f64, problem: Problem, method: Method) {
        metrics.resim_error /= k;
        metrics.resim_error_reference /= k;
        match problem {
            Problem::LinearGaussian if self.point => {
                metrics.mean_error = Some(self.mean_error);
                metrics.cov_error = Some(self.cov_error);
            }
            Problem::LinearGaussian => {
                metrics.kl_moments = Some(self.kl_moments / k);
                metrics.kl_log_q = (method == Method::Cflow).then_some(self.kl_log_q / k);
                metrics.mean_error = Some(self.mean_error);
                metrics.cov_error = Some(self.cov_error);
            }
            Problem::Arm | Problem::Ring => {
                metrics.mmd2 = Some(self.mmd2 / k);
                metrics.mmd2_floor = Some(self.mmd2_floor / k);
            }
        }
    }
}

/// The coverage levels as JSON keys.
pub fn coverage_json(coverage: [f64; 3]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (level, value) in LEVELS.iter().zip(coverage) {
        map.insert(format!("{level}"), serde_json::json!(value));
    }
    serde_json::Value::Object(map)
}
