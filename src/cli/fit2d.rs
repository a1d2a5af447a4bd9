//! `flowplay fit2d`: train a 2D flow on a named target and save it as a `.flow` file.
//! Progress goes to stderr; the last stdout line is one JSON summary.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::Outcome;
use super::fit_loop::{save_fit, train_keeping_best};
use crate::evaluate::{grid_mass, log_density_grid};
use crate::flows::{FlowKind, FlowSpec};
use crate::model_file::{self, FlowMeta};
use crate::targets::Target;
use crate::train::flow_matching::Pairing;
use crate::train::{FitBy, Objective, TargetTraining, TrainSettings, Trainer, target_problem};

#[derive(Args, Debug)]
pub struct Fit2dArgs {
    /// Target: a sample set to fit or an energy to match (u1–u4, twomoons).
    #[arg(long, value_enum)]
    pub target: Target,
    /// Flow family.
    #[arg(long, value_enum)]
    pub flow: FlowKind,
    /// Number of flow layers (default: 16 for planar/radial, 8 otherwise; for cnf the
    /// hidden-to-hidden layers of its velocity MLP, default 3).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Hidden width of the conditioner networks (default: 128 for cnf, 64 otherwise).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Spline bins (nsf).
    #[arg(long, default_value_t = 8)]
    pub bins: usize,
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Adam learning rate (default: 5e-3 for planar/radial, whose few parameters learn slowly;
    /// 1e-3 otherwise).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Learning-rate warm-up steps.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// Clip the global gradient norm to this value (0 = off).
    #[arg(long, default_value_t = 10.0)]
    pub clip: f32,
    /// Data points drawn from a sample target (train + validation).
    #[arg(long, default_value_t = 20_000)]
    pub data: usize,
    /// Fraction of the data held out for validation.
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Evaluate every this many steps.
    #[arg(long, default_value_t = 100)]
    pub eval_every: usize,
    /// Reverse KL: β at step 0 of the annealing of `E_q[log q + β U]` (1 = none).
    /// Starting hot keeps the flow from collapsing onto one mode (U1 and twomoons have two).
    #[arg(long, default_value_t = 0.01)]
    pub beta0: f64,
    /// Reverse KL: steps over which β rises linearly to 1 (default: two thirds of --steps).
    #[arg(long)]
    pub anneal_steps: Option<usize>,
    /// Where to save the model: for sample sets the one with the best validation NLL, with the
    /// final one beside it as `<name>.last.flow`; for energies the final one.
    #[arg(long, default_value = "model.flow")]
    pub out: PathBuf,
    /// Device: cpu (always available), wgpu or cuda (when compiled in with those features).
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::BackendChoice,
    /// CPU threads: each batch's rows are split over this many replicas of the model (forward
    /// KL and regression; default: every core). The result is the same up to float rounding.
    #[arg(long)]
    pub threads: Option<usize>,
    /// What to fit: `kl` (forward KL on sample sets, reverse KL on energies; for `--flow cnf`
    /// maximum likelihood through the ODE solver, FFJORD), `regression` (mbank's objective:
    /// regress log q onto the target's known log p at points drawn from it; energies and the
    /// sample sets whose density is known) or `flow-matching` (`--flow cnf` on a sample set:
    /// the velocity regressed onto straight noise-to-data paths).
    #[arg(long, value_enum, default_value_t = FitObjective::Kl)]
    pub objective: FitObjective,
    /// Flow matching: how base draws are paired with data points (`minibatch-ot`: the exact
    /// optimal-transport assignment within blocks of 64 rows, for straighter paths).
    #[arg(long, value_enum, default_value_t = Pairing::Independent)]
    pub pairing: Pairing,
    /// `--flow cnf`: RK4 steps of the ODE solver (the log-likelihood, sampling and training
    /// through it).
    #[arg(long, default_value_t = 16)]
    pub solver_steps: usize,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// `--objective`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FitObjective {
    Kl,
    Regression,
    /// Conditional flow matching (`--flow cnf` on a sample set).
    FlowMatching,
}

impl FitObjective {
    /// The objective as the library names it, with `pairing` for flow matching.
    pub fn fit_by(self, pairing: Pairing) -> FitBy {
        match self {
            Self::Kl => FitBy::Kl,
            Self::Regression => FitBy::Regression,
            Self::FlowMatching => FitBy::FlowMatching(pairing),
        }
    }
}

/// The flow, objective and settings the arguments ask for (each bad number named).
fn problem(a: &Fit2dArgs) -> Result<(FlowSpec, Objective, TrainSettings), String> {
    if a.steps == 0 || a.batch == 0 {
        return Err("--steps and --batch must be positive".into());
    }
    let lr = a.lr.unwrap_or(match a.flow {
        FlowKind::Planar | FlowKind::Radial => 5e-3,
        _ => 1e-3,
    });
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(format!("--lr must be a positive number, got {lr}"));
    }
    if !(0.0..1.0).contains(&a.val_fraction) || a.val_fraction <= 0.0 {
        return Err(format!(
            "--val-fraction must lie in (0, 1), got {}",
            a.val_fraction
        ));
    }
    if matches!(a.target, Target::Energy(_)) && !(a.beta0 > 0.0 && a.beta0 <= 1.0) {
        return Err(format!("--beta0 must lie in (0, 1], got {}", a.beta0));
    }
    let mut spec = FlowSpec::new(a.flow, 2);
    if let Some(h) = a.hidden {
        spec = spec.with_hidden(h);
    }
    spec.bins = a.bins;
    spec.solver_steps = a.solver_steps;
    if let Some(k) = a.layers {
        if k == 0 {
            return Err("--layers must be at least 1".into());
        }
        spec = spec.with_layers(k);
    }
    let how = TargetTraining {
        data_points: a.data,
        val_fraction: a.val_fraction,
        seed: a.seed,
        beta0: a.beta0,
        anneal_steps: a.anneal_steps.unwrap_or(2 * a.steps / 3),
        fit_by: a.objective.fit_by(a.pairing),
    };
    let p = target_problem(a.target, spec, &how)?;
    let settings = TrainSettings {
        steps: a.steps,
        batch: a.batch,
        lr,
        warmup_steps: a.warmup,
        clip_norm: (a.clip > 0.0).then_some(a.clip),
        seed: a.seed,
        eval_every: a.eval_every.max(1),
        ..TrainSettings::default()
    };
    Ok((p.spec, p.objective, settings))
}

/// The target-specific figures: validation NLLs (best, last, initial, the target's entropy)
/// for sample sets; the reverse-KL loss and KL estimate for energies.
fn target_figures(
    a: &Fit2dArgs,
    trainer: &Trainer,
    best_step: Option<usize>,
    summary: &mut serde_json::Value,
) -> Result<(), String> {
    if a.objective == FitObjective::Regression {
        return regression_figures(a, trainer, summary);
    }
    match a.target {
        Target::Samples(set) => {
            let last_val_nll = trainer.history.last().and_then(|p| p.val_nll);
            let best_step = best_step.unwrap_or(trainer.step);
            summary["last_val_nll"] = json!(last_val_nll);
            summary["best_step"] = json!(best_step);
            summary["val_nll"] = json!(
                trainer
                    .history
                    .points
                    .iter()
                    .filter(|p| p.step == best_step)
                    .find_map(|p| p.val_nll)
                    .or(last_val_nll)
            );
            summary["initial_val_nll"] = json!(trainer.history.first_val_nll());
            if let Some(h) = set.entropy() {
                summary["target_entropy"] = json!(h);
            }
        }
        Target::Energy(_) => {
            let loss = pollster::block_on(trainer.reverse_kl_estimate(10_000))
                .map_err(|e| e.to_string())?;
            if let Objective::ReverseKl { log_normalizer, .. } = &trainer.objective {
                summary["log_normalizer"] = json!(log_normalizer);
                summary["kl_estimate"] = json!(loss.map(|l| l + log_normalizer));
            }
            summary["reverse_kl_loss"] = json!(loss);
        }
    }
    Ok(())
}

/// A regression fit's figures: the RMSE of `log q − log p` on 2 000 fresh points from the
/// target, and the figure a KL fit reports (`KL(q ‖ p)` for an energy, the NLL of fresh samples
/// minus the entropy for a sample set), so that both objectives can be compared.
fn regression_figures(
    a: &Fit2dArgs,
    trainer: &Trainer,
    summary: &mut serde_json::Value,
) -> Result<(), String> {
    let model = trainer.inference_model();
    let device = crate::device::cpu();
    let how = TargetTraining {
        data_points: 2000,
        val_fraction: 0.2,
        seed: a.seed.wrapping_add(1),
        beta0: 1.0,
        anneal_steps: 0,
        fit_by: FitBy::Regression,
    };
    let held_out = target_problem(a.target, FlowSpec::new(a.flow, 2), &how)?;
    let Objective::Regression {
        points,
        log_density,
        ..
    } = &held_out.objective
    else {
        return Err("internal: a regression problem without regression targets".into());
    };
    let log_q = crate::evaluate::log_prob_rows_blocking(&model, points, 2, &device)?;
    let mse = log_q
        .iter()
        .zip(log_density)
        .map(|(q, p)| ((q - p) as f64).powi(2))
        .sum::<f64>()
        / log_q.len().max(1) as f64;
    summary["objective"] = json!("regression");
    summary["rmse_log_density"] = json!(mse.sqrt());
    match a.target {
        Target::Energy(e) => {
            let (x, log_q) =
                model.sample(20_000, &mut crate::rng::Rng::new(a.seed ^ 0xE5), &device);
            let loss = pollster::block_on(crate::readback::scalar_async(
                (log_q + e.energy_tensor(x)).mean(),
            ))? as f64;
            summary["kl_estimate"] = json!(loss + e.log_normalizer(400));
        }
        Target::Samples(set) => {
            let nll = -log_q.iter().map(|&v| v as f64).sum::<f64>() / log_q.len().max(1) as f64;
            summary["held_out_nll"] = json!(nll);
            summary["target_entropy"] = json!(set.entropy());
        }
    }
    Ok(())
}

pub fn run(a: Fit2dArgs) -> Result<Outcome, String> {
    let (spec, objective, settings) = problem(&a)?;
    let (lr, batch) = (settings.lr, settings.batch);
    let device = crate::device::inference_device(a.device)?;
    let config = spec.config();
    let threads = match a.device {
        crate::device::BackendChoice::Cpu => {
            a.threads.unwrap_or_else(crate::device::available_threads)
        }
        _ => 1,
    };
    let mut trainer = Trainer::new(&config, objective, settings, &device)
        .and_then(|t| t.with_cpu_threads(threads))
        .map_err(|e| e.to_string())?;
    let params = model_file::num_params(&trainer.model);
    if !a.quiet {
        eprintln!(
            "fit2d: {} on {} ({} layers, {params} parameters), {} steps of batch {batch}",
            a.flow,
            a.target.name(),
            spec.layers,
            a.steps,
        );
    }
    let start = Instant::now();
    let finished = train_keeping_best(&mut trainer, a.quiet);
    let seconds = start.elapsed().as_secs_f64();
    let mut summary = json!({
        "target": a.target.name(),
        "flow": a.flow.name(),
        "layers": spec.layers,
        "hidden": spec.hidden,
        "params": params,
        "steps": trainer.step,
        "batch": batch,
        "lr": lr,
        "seed": a.seed,
        "seconds": seconds,
        "steps_per_sec": trainer.step as f64 / seconds.max(1e-9),
        "train_loss": trainer.history.last().and_then(|p| p.train_loss),
        "nan_events": trainer.history.nan_events.len(),
    });
    let best_step = finished.best_step(trainer.step);
    target_figures(&a, &trainer, best_step, &mut summary)?;
    let bounds = a.target.bounds();
    let (model, _) = finished.chosen(&trainer);
    let grid = log_density_grid(&model, &bounds, 200, &device)?;
    summary["grid_mass"] = json!(grid_mass(&grid, &bounds, 200));
    let mut meta = FlowMeta::new(config);
    meta.spec = Some(spec);
    meta.target = Some(a.target.name().to_string());
    save_fit(&a.out, &trainer, finished, meta, summary, a.quiet)
}
