//! `flowplay train --preset NAME`: trains an image flow (or, for `snf_timescaling`, runs the
//! timescaling benchmark).
//!
//! Writes into `--out` (default `runs/<preset>`): `model.flow` (best validation bits/dim),
//! `last.flow` + `state.json` + `optimizer.bpk` (Adam's moments; for `--resume`),
//! `metrics.jsonl` (one JSON line per evaluation: bits/dim, nats, timing per batch and per
//! image), `samples-epochN.png`. Every file is written to a temporary name and renamed. Ctrl-C
//! finishes the current step, saves `last.flow` and `state.json`, and exits with code 130;
//! `--resume` continues from there. The last stdout line is a JSON summary.
//!
//! - [`resume`]: the saved state and the options a resumed run may not change;
//! - [`run`]: the epochs, evaluate-and-checkpoint, the final test;
//! - [`progress`]: the live progress line;
//! - [`dry_run`]: the `--dry-run` check.

mod dry_run;
mod progress;
mod resume;
mod run;

use std::path::PathBuf;

use clap::Args;

pub use resume::{ResumeState, check_optimizer_state, parse_state};
use run::{TimeLimits, TrainingRun};

use super::Outcome;
use crate::device::{BackendChoice, inference_device};
use crate::images::fetch::load;
use crate::images::{ImageSet, Split};
use crate::presets::{self, Preset};
use crate::train::images::ImageTrainer;

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The experiment (`flowplay train --list` shows them all).
    #[arg(long, required_unless_present_any = ["list", "resume"])]
    pub preset: Option<String>,
    /// List the presets with their settings and exit.
    #[arg(long)]
    pub list: bool,
    /// Build the model, run one forward and inverse pass on a real batch, print a JSON line
    /// (parameter count, initial bits/dim, inversion error), and exit without training.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Hidden channels of the coupling networks (Glow).
    #[arg(long)]
    pub width: Option<usize>,
    /// Flow steps per scale (FC flows: number of FC layers).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Number of scales.
    #[arg(long)]
    pub levels: Option<usize>,
    /// Weight λ of the self-normalizing layers' reconstruction loss.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Use the symmetric reconstruction loss.
    #[arg(long)]
    pub symmetric: bool,
    /// Hybrid presets: the weight β of the label NLL (nats) against the bits/dim of p(x)
    /// (Nalisnick et al.'s λ = 1 / (β·D·ln 2)).
    #[arg(long)]
    pub label_weight: Option<f64>,
    /// Model the dequantised pixels on the unit cube directly, without the logit transform.
    #[arg(long)]
    pub no_logit: bool,
    /// The logit transform's α (pixels are squeezed into [α, 1 − α] first).
    #[arg(long)]
    pub logit_alpha: Option<f32>,
    /// Warm-up steps (linear).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Clip the global gradient norm to this value (0 = none).
    #[arg(long)]
    pub clip: Option<f32>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Use only this many training images.
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Validation images held out from the end of the training split.
    #[arg(long)]
    pub val_images: Option<usize>,
    /// Test images evaluated at the end (0 = skip the test evaluation).
    #[arg(long, default_value_t = 10_000)]
    pub test_images: usize,
    /// Stop after this many steps in total.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Evaluate, checkpoint and draw samples every this many epochs.
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Sampling temperature of the sample grids.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Output directory (default `runs/<preset>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in `--out` from its `last.flow` and `state.json`.
    #[arg(long)]
    pub resume: bool,
    /// Start a new run from this model file's weights instead of a fresh initialisation (a
    /// shipped model trained further, say); it must be the preset's architecture. Adam's
    /// moments and the warm-up start afresh.
    #[arg(long, conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// cpu (Burn flex), wgpu or wgpu:N (Vulkan/Metal; feature `wgpu`; the first discrete GPU
    /// unless N names one), cuda or cuda:N (feature `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: BackendChoice,
    /// Data parallel: split each batch evenly over these devices (comma-separated, e.g.
    /// `wgpu:0,wgpu:1`, or `cpu,cpu` to check the equivalence); the first holds the optimizer
    /// state. Replaces --device.
    #[arg(long)]
    pub devices: Option<String>,
    /// Stop training after this many minutes of wall time (a GPU lease, a CI slot): the epoch
    /// under way ends early and is evaluated, checkpointed and tested as the last one.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// The whole command must end within this many minutes (a GPU lease): training stops early
    /// enough for the validation, the test, a sample grid and the saving to fit (estimated from
    /// a timed evaluation at the start), and `--resume` continues where it stopped.
    #[arg(long)]
    pub lease_minutes: Option<f64>,
    /// Directory with the data files (default: the `flowplay data fetch` cache; CIFAR-10 and
    /// ImageNet32 always need it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `--quick` for the timescaling preset.
    #[arg(long)]
    pub quick: bool,
    /// Train on your own images: every PNG/JPEG in this folder (the last 10 % held out as the
    /// test set, the validation images before them), converted to the preset's grey or RGB.
    #[arg(long)]
    pub image_folder: Option<PathBuf>,
    /// With --image-folder: scale every image to the preset's size (area averaging) instead of
    /// refusing images of another size.
    #[arg(long, requires = "image_folder")]
    pub resize: bool,
}

/// The preset with the command line's overrides applied.
pub fn configured_preset(args: &TrainArgs) -> Result<Preset, String> {
    let name = args.preset.as_deref().ok_or("--preset is required")?;
    let mut p = presets::find(name)?;
    let t = &mut p.train;
    macro_rules! set {
        ($field:expr, $value:expr) => {
            if let Some(v) = $value {
                $field = v;
            }
        };
    }
    set!(t.epochs, args.epochs);
    set!(t.batch, args.batch);
    set!(t.lr, args.lr);
    set!(t.lambda, args.lambda);
    set!(t.warmup_steps, args.warmup);
    set!(t.seed, args.seed);
    set!(t.val_images, args.val_images);
    set!(t.eval_every, args.eval_every);
    set!(p.spec.hidden, args.width);
    set!(p.spec.steps, args.depth);
    set!(p.spec.levels, args.levels);
    if let Some(c) = args.clip {
        t.clip_norm = (c > 0.0).then_some(c);
    }
    if args.train_images.is_some() {
        t.train_images = args.train_images;
    }
    if args.max_steps.is_some() {
        t.max_steps = args.max_steps;
    }
    p.spec.symmetric |= args.symmetric;
    if let Some(w) = args.label_weight {
        let Some(h) = p.spec.hybrid.as_mut() else {
            return Err(format!(
                "--label-weight needs a hybrid preset (e.g. glow_mnist_hybrid_small); {} has no label head",
                p.name
            ));
        };
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!("--label-weight must be finite and ≥ 0, got {w}"));
        }
        h.label_weight = w;
    }
    p.spec.logit &= !args.no_logit;
    if let Some(a) = args.logit_alpha {
        if !(0.0..0.5).contains(&a) {
            return Err(format!("--logit-alpha must be in [0, 0.5), got {a}"));
        }
        p.spec.alpha = a;
    }
    if t.batch == 0 || t.eval_every == 0 || t.epochs == 0 {
        return Err("--batch, --eval-every and --epochs must be positive".into());
    }
    t.check()?;
    Ok(p)
}

/// The preset's training split, checked against its image shape and split into (train,
/// validation): the validation images are held out from the end.
fn load_train_val(
    p: &Preset,
    data_dir: Option<&std::path::Path>,
) -> Result<(ImageSet, ImageSet), String> {
    let all = load(p.dataset, Split::Train, data_dir).map_err(|e| e.to_string())?;
    if all.shape != p.spec.shape {
        return Err(format!(
            "the data has images of shape {}, preset '{}' expects {}",
            all.shape, p.name, p.spec.shape
        ));
    }
    let n = all.len();
    let val = p.train.val_images.min(n / 5);
    let train_end = n - val;
    let train = all.slice(0..p.train.train_images.unwrap_or(train_end).min(train_end));
    let val = all.slice(train_end..n);
    if train.is_empty() {
        return Err("no training images left after holding out the validation set".into());
    }
    Ok((train, val))
}

/// `--image-folder`: the folder's images split into (train, validation) and the held-out
/// test images (the last 10 %, at least one), in name order.
fn own_images(
    p: &Preset,
    dir: &std::path::Path,
    resize: bool,
) -> Result<((ImageSet, ImageSet), Option<run::OwnData>), String> {
    let all =
        crate::images::folder::load_folder(dir, p.spec.shape, resize).map_err(|e| e.to_string())?;
    let n = all.len();
    if n < 10 {
        return Err(format!(
            "{}: {n} images; training needs at least 10 (train, validation and test)",
            dir.display()
        ));
    }
    let n_test = (n / 10).max(1);
    let n_val = p.train.val_images.min(n / 10).max(1);
    let train_end = n - n_test - n_val;
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "images".into());
    let own = run::OwnData {
        name,
        test: all.slice(n - n_test..n),
    };
    let train = all.slice(0..p.train.train_images.unwrap_or(train_end).min(train_end));
    Ok(((train, all.slice(train_end..n - n_test)), Some(own)))
}

/// `--list`: the presets with their data set and description.
fn list_presets() {
    for p in presets::all() {
        println!("{:28} {:14} {}", p.name, p.dataset.name(), p.about);
    }
    println!(
        "{:28} {:14} time per training step vs D, exact vs self-normalized (= flowplay bench timescaling)",
        presets::TIMESCALING,
        "-"
    );
}

/// The preset to train, with this invocation's epochs and step limit: a fresh one with the
/// command line's overrides, or (with `--resume`) the saved one and its state.
fn preset_and_state(
    args: &TrainArgs,
    out: &std::path::Path,
) -> Result<(Preset, Option<ResumeState>), String> {
    let (mut p, state) = if args.resume {
        resume::refuse_overrides(args)?;
        let state = resume::load_state(out, args.preset.as_deref())?;
        (state.preset.clone(), Some(state))
    } else {
        (configured_preset(args)?, None)
    };
    if let Some(e) = args.epochs {
        if e == 0 {
            return Err("--epochs must be positive".into());
        }
        p.train.epochs = e;
    }
    // A step limit belongs to one invocation: a resumed run is not held to the first one's.
    p.train.max_steps = args.max_steps;
    Ok((p, state))
}

pub fn run(args: TrainArgs) -> Result<Outcome, String> {
    let (outcome, summary) = train_and_summarise(args)?;
    if let Some(summary) = summary {
        println!("{summary}");
    }
    Ok(outcome)
}

/// Runs `train` and returns its JSON summary (none for `--list`, `--dry-run`, the timescaling
/// figure, or a run stopped by Ctrl-C) instead of printing it: `reproduce snf-table1` trains
/// presets through it.
pub fn train_and_summarise(
    args: TrainArgs,
) -> Result<(Outcome, Option<serde_json::Value>), String> {
    if args.list {
        list_presets();
        return Ok((Outcome::Done, None));
    }
    if args.preset.as_deref() == Some(presets::TIMESCALING) {
        super::timescaling::run(super::timescaling::TimescalingArgs {
            quick: args.quick,
            out: args.out.clone(),
            seed: args.seed.unwrap_or(0),
        })?;
        return Ok((Outcome::Done, None));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(args.preset.as_deref().unwrap_or("run")));
    let limits = time_limits(&args)?;
    let (p, state) = preset_and_state(&args, &out)?;
    let choices = match &args.devices {
        Some(list) => crate::device::parse_device_list(list)?,
        None => vec![args.device],
    };
    let devices = start_devices(&choices)?;
    let device = devices[0].clone();
    let config = p.flow_config()?;
    let ((train, val), own_data) = match &args.image_folder {
        Some(dir) => own_images(&p, dir, args.resize)?,
        None => (load_train_val(&p, args.data_dir.as_deref())?, None),
    };
    config.validate()?;
    if args.dry_run {
        dry_run::run(&p, &config, &train, &device)?;
        return Ok((Outcome::Done, None));
    }

    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let trainer = match &state {
        Some(s) => resume::resume_trainer(&p, s, &out, &device)?,
        None => match &args.init_from {
            Some(file) => init_from(file, &config, &p, &device)?,
            None => ImageTrainer::new(&config, p.train.clone(), &train, &device)
                .map_err(|e| e.to_string())?,
        },
    };
    let trainer = trainer.with_devices(&devices).map_err(|e| e.to_string())?;
    eprintln!(
        "{}: {} on {} ({} train / {} val images of {}), {} parameters, {} epochs × {} steps, device {}",
        p.name,
        p.about,
        p.dataset.name(),
        train.len(),
        val.len(),
        train.shape,
        burn::module::Module::num_params(&trainer.model),
        p.train.epochs,
        train.len() / p.train.batch,
        device_names(&choices)
    );
    let mut run = TrainingRun::new(
        p,
        out,
        trainer,
        (train, val),
        device,
        device_names(&choices),
        state.as_ref(),
        (args.temperature, limits),
    )?;
    run.own_data = own_data;
    if run.train()? == Outcome::Interrupted {
        return Ok((Outcome::Interrupted, None));
    }
    let summary = run.summary(args.test_images, args.data_dir.as_deref())?;
    Ok((Outcome::Done, Some(summary)))
}

/// The run's wall-clock limits from `--max-minutes`, `--lease-minutes` (the lease counted from
/// now) and `--test-images`; a limit that is not a positive number is an error.
fn time_limits(args: &TrainArgs) -> Result<TimeLimits, String> {
    for (name, m) in [
        ("--max-minutes", args.max_minutes),
        ("--lease-minutes", args.lease_minutes),
    ] {
        if let Some(m) = m
            && !(m > 0.0 && m.is_finite())
        {
            return Err(format!("{name} must be a positive number, got {m}"));
        }
    }
    Ok(TimeLimits {
        max_minutes: args.max_minutes,
        lease_end: args
            .lease_minutes
            .map(|m| std::time::Instant::now() + std::time::Duration::from_secs_f64(m * 60.0)),
        test_images: args.test_images,
    })
}

/// Starts each named device once (a device named twice is shared: its replicas run side by side).
fn start_devices(choices: &[BackendChoice]) -> Result<Vec<burn::tensor::Device>, String> {
    let mut started: Vec<(BackendChoice, burn::tensor::Device)> = Vec::new();
    choices
        .iter()
        .map(|c| {
            if let Some((_, d)) = started.iter().find(|(s, _)| s == c) {
                return Ok(d.clone());
            }
            let d = inference_device(*c)?;
            started.push((*c, d.clone()));
            Ok(d)
        })
        .collect()
}

fn device_names(choices: &[BackendChoice]) -> String {
    choices
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A new run's trainer from a model file's weights, refused unless its parameters have the
/// shapes of the preset's architecture.
fn init_from(
    file: &std::path::Path,
    config: &crate::flows::FlowConfig,
    p: &crate::presets::Preset,
    device: &burn::tensor::Device,
) -> Result<ImageTrainer, String> {
    use crate::train::params::param_shapes;
    let named = |e: String| format!("--init-from {}: {e}", file.display());
    let (flow, _) = crate::model_file::load(file, device).map_err(|e| named(e.to_string()))?;
    let shapes = |f: &crate::flows::Flow| -> Vec<Vec<usize>> {
        param_shapes(f).into_iter().map(|(_, s)| s).collect()
    };
    let want = config.init(device);
    if shapes(&flow) != shapes(&want) {
        return Err(named(format!(
            "its layers are not those of preset {} ({} parameters vs {})",
            p.name,
            burn::module::Module::num_params(&flow),
            burn::module::Module::num_params(&want)
        )));
    }
    Ok(ImageTrainer::resume(flow, p.train.clone(), device))
}
