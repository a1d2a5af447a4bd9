//! `flowplay calibrate --model M`: how far a saved amortised posterior can be trusted.
//!
//! - Simulation-based calibration and coverage over `--pairs` fresh `(θ, y)` pairs from the
//!   joint, `--draws` posterior draws each ([`crate::inverse::calibration`]; `--sbc-plot` draws
//!   the rank histograms).
//! - On the linear-Gaussian problem, whose posterior is exact in closed form, the error as the
//!   observation leaves the prior predictive: `--observations` observations simulated from a
//!   wider model than the one trained on (prior `N(0, 2² I)`, noise three times the
//!   training noise, so that they leave the predictive both along and across its thin
//!   ellipse), each with its typicality quantile
//!   ([`crate::inverse::predictive`]), the KL from the exact posterior to the flow's draws and
//!   to the importance-corrected draws, averaged per quantile band. This is the measurement the
//!   warning's threshold rests on.
//!
//! The figures are the last stdout line (JSON).

use std::path::PathBuf;

use burn::tensor::Device;
use clap::Args;

use crate::flows::Flow;
use crate::inverse::fit::posterior_samples;
use crate::inverse::predictive::{PREDICTIVE_SEED, PriorPredictive, WARN_QUANTILE};
use crate::inverse::reference::{Gaussian2, linear_gaussian_posterior};
use crate::inverse::report::{EvalSettings, coverage, coverage_json};
use crate::inverse::reweight::{Budget, MIN_RELIABLE_ESS, corrected_posterior};
use crate::inverse::{Method, Problem};
use crate::model_file;
use crate::rng::Rng;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// An amortised posterior (`fit-posterior --out`).
    #[arg(long)]
    pub model: PathBuf,
    /// Simulated (θ, y) pairs ranked.
    #[arg(long, default_value_t = 1000)]
    pub pairs: usize,
    /// Posterior draws per pair.
    #[arg(long, default_value_t = 99)]
    pub draws: usize,
    /// Linear-Gaussian: observations in the drift table (0 leaves it out).
    #[arg(long, default_value_t = 300)]
    pub observations: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Draw the rank histograms to this PNG.
    #[arg(long)]
    pub sbc_plot: Option<PathBuf>,
}

pub fn run(a: CalibrateArgs) -> Result<(), String> {
    if a.pairs < 2 || a.draws == 0 {
        return Err("--pairs must be at least 2 and --draws positive".into());
    }
    let device = crate::device::cpu();
    let (flow, meta) = model_file::load(&a.model, &device).map_err(|e| e.to_string())?;
    let (Some(p), Some(noise)) = (meta.posterior.clone(), meta.posterior_noise()) else {
        return Err(format!(
            "{} is not an amortised posterior (fit-posterior --out writes one)",
            a.model.display()
        ));
    };
    let settings = EvalSettings {
        test_pairs: a.pairs,
        samples_per_pair: a.draws,
        noise_std: Some(noise),
        ..EvalSettings::quick()
    };
    eprintln!(
        "calibrate: {} pairs × {} draws of the {} posterior",
        a.pairs,
        a.draws,
        p.problem.name()
    );
    let mut rng = Rng::new(a.seed);
    let (cover, calibration) = coverage(p.method, &flow, p.problem, &settings, &mut rng, &device)?;
    super::fit_posterior::report_calibration(p.problem, &calibration, a.sbc_plot.as_deref())?;
    let mut summary = serde_json::json!({
        "model": a.model.display().to_string(),
        "problem": p.problem.name(),
        "method": p.method.name(),
        "noise_std": noise,
        "coverage": coverage_json(cover),
        "calibration": calibration,
    });
    if p.problem == Problem::LinearGaussian && noise > 0.0 && a.observations > 0 {
        let drift = drift_table(p.method, &flow, noise, a.observations, &mut rng, &device)?;
        summary["drift"] = drift;
    }
    println!("{summary}");
    Ok(())
}

/// Quantile bands of the drift table: below the warning, just above it, typical.
const BANDS: [(f64, f64); 3] = [(0.0, WARN_QUANTILE), (WARN_QUANTILE, 0.1), (0.1, 1.01)];

/// The linear-Gaussian drift table: per quantile band, the observations in it, the median
/// KL(exact ‖ learned) and KL(exact ‖ corrected) (moments of 4000 draws each), the median
/// ESS fraction, how many corrections had fewer than [`MIN_RELIABLE_ESS`] effective draws
/// (and said so), how many flows and corrections missed by more than KL 0.05, and the largest corrected KL among
/// those with enough effective draws.
fn drift_table(
    method: Method,
    flow: &Flow,
    noise: f64,
    observations: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<serde_json::Value, String> {
    let problem = Problem::LinearGaussian;
    let kde = PriorPredictive::simulate(problem, noise, PREDICTIVE_SEED);
    // Per band: (KL flow, KL corrected, ESS, ESS fraction) of each observation.
    let mut bands: Vec<Vec<[f64; 4]>> = vec![Vec::new(); BANDS.len()];
    for _ in 0..observations {
        let theta: Vec<f64> = (0..2).map(|_| 2.0 * rng.normal()).collect();
        let y = problem.simulate_with(&theta, 3.0 * noise, rng);
        let q = kde.check(&y).quantile;
        let exact = linear_gaussian_posterior(&y);
        let (draws, _) = posterior_samples(method, flow, problem, &y, 4000, rng, device)?;
        let c = corrected_posterior(
            method,
            flow,
            problem,
            noise,
            &y,
            Budget::new(4000),
            rng,
            device,
        )
        .map_err(|e| e.to_string())?;
        if let Some(b) = BANDS.iter().position(|(lo, hi)| q >= *lo && q < *hi) {
            bands[b].push([
                exact.kl_to(&Gaussian2::fit(&draws)),
                exact.kl_to(&Gaussian2::fit(&c.draws)),
                c.ess,
                c.ess / c.proposals as f64,
            ]);
        }
    }
    eprintln!(
        "quantile band  observations  median KL(exact ‖ flow)  median KL(exact ‖ corrected)  median ESS share  ESS < {MIN_RELIABLE_ESS}  flow KL > 0.05  corrected KL > 0.05  worst KL corrected (ESS ≥ {MIN_RELIABLE_ESS})"
    );
    let mut table = Vec::new();
    for ((lo, hi), rows) in BANDS.iter().zip(&bands) {
        let median = |k: usize| median(rows.iter().map(|r| r[k]).collect());
        let unreliable = rows.iter().filter(|r| r[2] < MIN_RELIABLE_ESS).count();
        let drifted = rows.iter().filter(|r| r[0] > 0.05).count();
        let missed = rows.iter().filter(|r| r[1] > 0.05).count();
        let worst = rows
            .iter()
            .filter(|r| r[2] >= MIN_RELIABLE_ESS)
            .map(|r| r[1])
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
        eprintln!(
            "[{lo:.2}, {:.2})  {:>12}  {:>23}  {:>28}  {:>16}  {:>8}  {:>14}  {:>19}  {:>26}",
            hi.min(1.0),
            rows.len(),
            cell(median(0)),
            cell(median(1)),
            cell(median(3)),
            unreliable,
            drifted,
            missed,
            cell(worst)
        );
        table.push(serde_json::json!({
            "quantile_from": lo, "quantile_to": hi.min(1.0), "observations": rows.len(),
            "median_kl_flow": median(0), "median_kl_corrected": median(1),
            "median_ess_fraction": median(3), "ess_below_reliable": unreliable,
            "flow_kl_above_0_05": drifted, "corrected_kl_above_0_05": missed,
            "worst_kl_corrected_reliable": worst,
        }));
    }
    Ok(serde_json::Value::Array(table))
}

/// The median of `v` (`None` when empty).
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        }
    })
}
