//! `flowplay fit2d`: train a 2D flow on a named target and save it as a `.flow` file.
//! Progress goes to stderr; the last stdout line is one JSON summary.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use crate::evaluate::{grid_mass, log_density_grid};
use crate::flows::{FlowKind, FlowSpec};
use crate::model_file::{self, FlowMeta};
use crate::rng::Rng;
use crate::targets::Target;
use crate::train::{Objective, TrainSettings, Trainer};

#[derive(Args, Debug)]
pub struct Fit2dArgs {
    /// Target: a sample set (moons circles 8gaussians checkerboard pinwheel 2spirals swissroll
    /// rings expnormal) or an energy (u1 u2 u3 u4 twomoons).
    #[arg(long)]
    pub target: Target,
    /// Flow family: planar radial realnvp nice maf iaf nsf.
    #[arg(long)]
    pub flow: FlowKind,
    /// Number of flow layers (default: 16 for planar/radial, 8 otherwise).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Hidden width of the conditioner networks.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
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
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Fit2dArgs) -> Result<(), String> {
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
    let mut spec = FlowSpec::new(a.flow, 2).with_hidden(a.hidden);
    spec.bins = a.bins;
    if let Some(k) = a.layers {
        if k == 0 {
            return Err("--layers must be at least 1".into());
        }
        spec = spec.with_layers(k);
    }
    if let Target::Energy(e) = a.target {
        // U2–U4 do not confine z₁ (exp(−U) is not integrable on ℝ²): the target is exp(−U) on
        // its plotting box, and the flow's support is that box (a fixed tanh layer).
        let b = e.bounds();
        spec = spec.with_support(
            vec![b.x.0 as f32, b.y.0 as f32],
            vec![b.x.1 as f32, b.y.1 as f32],
        );
    }
    let objective = match a.target {
        Target::Samples(set) => {
            let data = set.sample(a.data, &mut Rng::new(a.seed ^ 0xDA7A));
            Objective::forward_kl(2, data, a.val_fraction)
        }
        Target::Energy(e) => {
            if !(a.beta0 > 0.0 && a.beta0 <= 1.0) {
                return Err(format!("--beta0 must lie in (0, 1], got {}", a.beta0));
            }
            Objective::reverse_kl(e, a.beta0, a.anneal_steps.unwrap_or(2 * a.steps / 3))
        }
    };
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
    let device = crate::device::inference_device(a.device)?;
    let config = spec.config();
    let mut trainer =
        Trainer::new(&config, objective, settings, &device).map_err(|e| e.to_string())?;
    let params = model_file::num_params(&trainer.model);
    if !a.quiet {
        eprintln!(
            "fit2d: {} on {} ({} layers, {params} parameters), {} steps of batch {}",
            a.flow,
            a.target.name(),
            spec.layers,
            a.steps,
            a.batch
        );
    }
    let start = Instant::now();
    let quiet = a.quiet;
    let total = a.steps;
    // (validation NLL, step, model) of the best validation so far.
    let mut best: Option<(f64, usize, crate::flows::Flow)> = None;
    let outcome = trainer.run_blocking(|t, p| {
        if let Some(v) = p.val_nll
            && v.is_finite()
            && best.as_ref().is_none_or(|(b, _, _)| v < *b)
        {
            best = Some((v, t.step, t.inference_model()));
        }
        if quiet {
            return;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let rate = t.step as f64 / elapsed.max(1e-9);
        let val = p.val_nll.map(|v| format!("  val NLL {v:.4}")).unwrap_or_default();
        if t.step == 0 {
            eprintln!("  step {:>6}/{total}  (before training){val}", 0);
            return;
        }
        let eta = (total - t.step) as f64 / rate.max(1e-9);
        eprintln!(
            "  step {:>6}/{total}  loss {:>9.4}{val}  lr {:.1e}  {rate:6.1} steps/s  ETA {eta:5.0}s",
            t.step,
            p.train_loss.unwrap_or(f64::NAN),
            p.lr
        );
    });
    let seconds = start.elapsed().as_secs_f64();
    // Whatever happened, save what we have (the guard keeps the last good parameters).
    let last = trainer.inference_model();
    let last_val_nll = trainer.history.last().and_then(|p| p.val_nll);
    let (model, best_step) = match best {
        Some((_, step, m)) if step != trainer.step => (m, Some(step)),
        _ => (last.clone(), None),
    };
    let mut summary = json!({
        "target": a.target.name(),
        "flow": a.flow.name(),
        "layers": spec.layers,
        "hidden": a.hidden,
        "params": params,
        "steps": trainer.step,
        "batch": a.batch,
        "lr": lr,
        "seed": a.seed,
        "seconds": seconds,
        "steps_per_sec": trainer.step as f64 / seconds.max(1e-9),
        "train_loss": trainer.history.last().and_then(|p| p.train_loss),
        "nan_events": trainer.history.nan_events.len(),
    });
    let infer_device = device.clone();
    match a.target {
        Target::Samples(set) => {
            summary["last_val_nll"] = json!(last_val_nll);
            summary["best_step"] = json!(best_step.unwrap_or(trainer.step));
            summary["val_nll"] = json!(
                trainer
                    .history
                    .points
                    .iter()
                    .filter(|p| p.step == best_step.unwrap_or(trainer.step))
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
            if let crate::train::Objective::ReverseKl { log_normalizer, .. } = &trainer.objective {
                summary["log_normalizer"] = json!(log_normalizer);
                summary["kl_estimate"] = json!(loss.map(|l| l + log_normalizer));
            }
            summary["reverse_kl_loss"] = json!(loss);
        }
    }
    let bounds = a.target.bounds();
    let grid = log_density_grid(&model, &bounds, 200, &infer_device)?;
    summary["grid_mass"] = json!(grid_mass(&grid, &bounds, 200));
    let mut meta = FlowMeta::new(config);
    meta.spec = Some(spec);
    meta.target = Some(a.target.name().to_string());
    meta.history = Some(trainer.history.clone());
    meta.summary = Some(summary.clone());
    model_file::save(&a.out, &model, &meta).map_err(|e| e.to_string())?;
    if best_step.is_some() {
        // The final parameters too, beside the best ones (same metadata, last history point).
        let last_path = a.out.with_extension("last.flow");
        model_file::save(&last_path, &last, &meta).map_err(|e| e.to_string())?;
        summary["last_model"] = json!(last_path.display().to_string());
    }
    // The printed line names where the model went; the file itself carries no machine path.
    summary["out"] = json!(a.out.display().to_string());
    if !a.quiet {
        eprintln!("saved {}", a.out.display());
    }
    println!("{summary}");
    outcome.map_err(|e| format!("{e} (the model was saved to {})", a.out.display()))
}
