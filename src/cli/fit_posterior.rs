//! `flowplay fit-posterior`: learn `p(θ | y)` of a benchmark inverse problem from simulations
//! (a conditional flow or Ardizzone et al.'s INN), print the figures against the reference
//! posterior as the last stdout line (JSON), and save the model.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::inverse::report::{EvalSettings, coverage_json, evaluate};
use crate::inverse::{FitSettings, Method, PosteriorFit, Problem};
use crate::model_file::{self, FlowMeta, PosteriorMeta};

#[derive(Args, Debug)]
pub struct FitPosteriorArgs {
    /// linear-gaussian, arm or ring.
    #[arg(long)]
    pub problem: Problem,
    /// cflow (conditional flow) or inn (invertible network with partitioned outputs).
    #[arg(long, default_value = "cflow")]
    pub method: Method,
    /// Adam steps (default 4000; 150 with --quick).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Simulated pairs per step (default 512; 256 with --quick).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Couplings (default 6; 4 with --quick).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Conditioner width (default 64; 32 with --quick).
    #[arg(long)]
    pub hidden: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seconds, not minutes: a small network, a short run and a small evaluation.
    #[arg(long)]
    pub quick: bool,
    /// Observation noise σ of the simulations (default: the problem's). `--noise 0` is the
    /// noiseless inverse problem: the posterior is the set {θ : f(θ) = y}, judged by the
    /// re-simulation error and coverage (and the exact point or circle where there is one).
    #[arg(long, allow_hyphen_values = true)]
    pub noise: Option<f64>,
    /// Save the trained model here (`.flow`; `flowplay sample --context` draws from it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Draw the simulation-based calibration figure (a rank histogram per coordinate of θ,
    /// over the coverage test pairs) to this PNG.
    #[arg(long)]
    pub sbc_plot: Option<PathBuf>,
    /// cpu, wgpu[:N] (feature `wgpu`) or cuda[:N] (feature `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::BackendChoice,
}

impl FitPosteriorArgs {
    fn settings(&self) -> FitSettings {
        let base = if self.quick {
            FitSettings::quick()
        } else {
            FitSettings::full()
        };
        FitSettings {
            steps: self.steps.unwrap_or(base.steps),
            batch: self.batch.unwrap_or(base.batch),
            layers: self.layers.unwrap_or(base.layers),
            hidden: self.hidden.unwrap_or(base.hidden),
            lr: self.lr.unwrap_or(base.lr),
            seed: self.seed,
            noise_std: self.noise,
            ..base
        }
    }
}

pub fn run(a: FitPosteriorArgs) -> Result<(), String> {
    let device = crate::device::inference_device(a.device)?;
    let settings = a.settings();
    if !(settings.lr > 0.0 && settings.lr.is_finite()) {
        return Err(format!("--lr must be positive, got {}", settings.lr));
    }
    if let Some(s) = a.noise
        && !(s >= 0.0 && s.is_finite())
    {
        return Err(format!("--noise must be 0 or a positive number, got {s}"));
    }
    let mut fit = PosteriorFit::new(a.problem, a.method, settings.clone(), &device)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "fit-posterior: {} by {} · {} steps of {} simulated pairs",
        a.problem.name(),
        a.method.name(),
        settings.steps,
        settings.batch
    );
    let start = Instant::now();
    let mut last_report = Instant::now();
    let (mut window, mut window_steps, mut last_loss) = (0.0f64, 0usize, f64::NAN);
    while fit.step < settings.steps {
        if let Some(loss) = pollster::block_on(fit.train_step()).map_err(|e| e.to_string())? {
            window += loss as f64;
            window_steps += 1;
        }
        let done = fit.step == settings.steps;
        if done || last_report.elapsed().as_secs_f64() > 2.0 {
            last_loss = window / window_steps.max(1) as f64;
            eprintln!(
                "step {}/{} · loss {:.4} · {:.1} steps/s",
                fit.step,
                settings.steps,
                last_loss,
                fit.step as f64 / start.elapsed().as_secs_f64()
            );
            (window, window_steps) = (0.0, 0);
            last_report = Instant::now();
        }
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let flow = fit.trained();
    let eval = EvalSettings {
        noise_std: a.noise,
        ..if a.quick {
            EvalSettings::quick()
        } else {
            EvalSettings::full()
        }
    };
    eprintln!(
        "evaluating: coverage over {} test pairs, reference posteriors at {} observations",
        eval.test_pairs, eval.reference_observations
    );
    let eval_start = Instant::now();
    let m = evaluate(a.method, &flow, a.problem, &eval, a.seed, &device)?;
    if let Some(c) = &m.calibration {
        report_calibration(a.problem, c, a.sbc_plot.as_deref())?;
    }
    let mut summary = serde_json::json!({
        "problem": a.problem.definition(),
        "method": a.method.name(),
        "settings": settings,
        "steps": fit.step,
        "final_loss": last_loss,
        "train_seconds": train_seconds,
        "eval_seconds": eval_start.elapsed().as_secs_f64(),
        "evaluation": eval,
        "noise_std": a.noise.unwrap_or(a.problem.noise_std()),
    });
    add_metrics(&mut summary, &m)?;
    if let Some(out) = &a.out {
        let mut meta = FlowMeta::new(flow.config().clone());
        meta.summary = Some(summary.clone());
        meta.posterior = Some(PosteriorMeta {
            problem: a.problem,
            method: a.method,
        });
        model_file::save(out, &flow, &meta).map_err(|e| e.to_string())?;
        eprintln!("saved {}", out.display());
    }
    println!("{summary}");
    Ok(())
}

/// Says (stderr) whether the ranks look uniform, and draws the rank histograms to `plot`.
pub fn report_calibration(
    problem: Problem,
    c: &crate::inverse::calibration::Calibration,
    plot: Option<&std::path::Path>,
) -> Result<(), String> {
    let names = problem.theta_names();
    let parts: Vec<String> = names
        .iter()
        .zip(&c.ks_p_value)
        .map(|(n, p)| format!("{n} p = {p:.3}"))
        .collect();
    eprintln!(
        "calibration (SBC, {} pairs × {} draws): KS of the ranks against uniform: {}",
        c.pairs,
        c.draws_per_pair,
        parts.join(", ")
    );
    if let Some(path) = plot {
        super::register_fonts();
        let size = crate::plot::ranks::ranks_size(names.len(), 320);
        super::png::write_png(path, size, |root| {
            crate::plot::ranks::draw_rank_histograms(root, c, &names).map_err(String::from)
        })?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The evaluation's figures into the summary, under their own names (`coverage` keyed by
/// level; a figure that does not apply, or is NaN, as null).
fn add_metrics(
    summary: &mut serde_json::Value,
    m: &crate::inverse::report::Metrics,
) -> Result<(), String> {
    let serde_json::Value::Object(figures) = serde_json::to_value(m).map_err(|e| e.to_string())?
    else {
        return Err("internal: the figures are not a JSON object".into());
    };
    for (key, value) in figures {
        summary[key] = value;
    }
    summary["coverage"] = coverage_json(m.coverage);
    Ok(())
}
