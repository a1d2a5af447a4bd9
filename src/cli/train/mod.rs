//! `flowplay train --preset NAME`: trains an image flow (or, for `snf_timescaling`, runs the
//! timescaling benchmark).
//!
//! Writes into `--out` (default `runs/<preset>`): `model.flow` (best validation bits/dim),
//! `last.flow` + `state.json` + `optimizer.bpk` (Adam's moments; for `--resume`), `metrics.jsonl` (one JSON line per evaluation:
//! bits/dim, nats, timing per batch and per image), `samples-epochN.png`. Every file is written to
//! a temporary name and renamed. Ctrl-C finishes the current step, saves `last.flow` and
//! `state.json`, and exits; `--resume` continues from there. The last stdout line is a JSON
//! summary.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::image_io::{sample_images, write_grid_png};
use crate::device::{BackendChoice, inference_device};
use crate::flows::Flow;
use crate::images::fetch::load;
use crate::images::{ImageSet, Split, dequantize_batch, nll_nats_from_bpd};
use crate::model_file::{self, FlowMeta, ImageMeta};
use crate::presets::{self, Preset};
use crate::rng::Rng;
use crate::train::images::{ImageTrainer, evaluate_bpd};
use crate::train::optim::with_param_ids;

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
    /// Directory with the data files (default: the `flowplay data fetch` cache; CIFAR-10 and
    /// ImageNet32 always need it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `--quick` for the timescaling preset.
    #[arg(long)]
    pub quick: bool,
}

/// What `--resume` needs besides the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub preset: Preset,
    /// Epochs completed.
    pub epoch: usize,
    pub step: usize,
    pub best_val_bpd: Option<f64>,
    pub lambda: f64,
    pub seconds: f64,
    /// Parameter ids in visiting order: `optimizer.bpk` (Adam's moments) is keyed by them.
    #[serde(default)]
    pub param_ids: Vec<u64>,
}

static STOP: AtomicBool = AtomicBool::new(false);

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
    Ok(p)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn meta_for(p: &Preset, flow: &Flow, summary: serde_json::Value) -> FlowMeta {
    let mut meta = FlowMeta::new(flow.config().clone());
    meta.target = Some(p.dataset.name().to_string());
    meta.summary = Some(summary);
    meta.image = Some(ImageMeta {
        shape: p.spec.shape,
        dataset: Some(p.dataset.name().to_string()),
        preset: Some(p.name.clone()),
    });
    meta
}

fn fmt_duration(s: f64) -> String {
    let s = s.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Splits the training split into (train, validation).
fn split_train_val(all: ImageSet, p: &Preset) -> Result<(ImageSet, ImageSet), String> {
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

pub fn run(args: TrainArgs) -> Result<(), String> {
    if args.list {
        for p in presets::all() {
            println!("{:28} {:14} {}", p.name, p.dataset.name(), p.about);
        }
        println!(
            "{:28} {:14} time per training step vs D, exact vs self-normalized (= flowplay bench timescaling)",
            presets::TIMESCALING,
            "-"
        );
        return Ok(());
    }
    if args.preset.as_deref() == Some(presets::TIMESCALING) {
        return super::timescaling::run(super::timescaling::TimescalingArgs {
            quick: args.quick,
            out: args.out.clone(),
            seed: args.seed.unwrap_or(0),
        });
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(args.preset.as_deref().unwrap_or("run")));
    if args.resume {
        let fixed = [
            ("--batch", args.batch.is_some()),
            ("--lr", args.lr.is_some()),
            ("--width", args.width.is_some()),
            ("--depth", args.depth.is_some()),
            ("--levels", args.levels.is_some()),
            ("--lambda", args.lambda.is_some()),
            ("--symmetric", args.symmetric),
            ("--no-logit", args.no_logit),
            ("--logit-alpha", args.logit_alpha.is_some()),
            ("--warmup", args.warmup.is_some()),
            ("--clip", args.clip.is_some()),
            ("--seed", args.seed.is_some()),
            ("--train-images", args.train_images.is_some()),
            ("--val-images", args.val_images.is_some()),
            ("--eval-every", args.eval_every.is_some()),
        ];
        let given: Vec<&str> = fixed
            .iter()
            .filter(|(_, set)| *set)
            .map(|(n, _)| *n)
            .collect();
        if !given.is_empty() {
            return Err(format!(
                "--resume continues with the run's saved settings; {} cannot change them (only \
                 --epochs, --max-steps, --test-images, --temperature, --device and --data-dir apply)",
                given.join(", ")
            ));
        }
    }
    let (mut p, state) = if args.resume {
        let text = std::fs::read_to_string(out.join("state.json")).map_err(|e| {
            format!(
                "--resume: cannot read {} ({e}); is this the directory of an earlier run?",
                out.join("state.json").display()
            )
        })?;
        let state: RunState = serde_json::from_str(&text).map_err(|e| {
            format!(
                "--resume: {} is not a run state ({e})",
                out.join("state.json").display()
            )
        })?;
        if let Some(name) = &args.preset
            && *name != state.preset.name
        {
            return Err(format!(
                "--resume: {} holds a run of preset '{}', not '{name}'",
                out.display(),
                state.preset.name
            ));
        }
        (state.preset.clone(), Some(state))
    } else {
        (configured_preset(&args)?, None)
    };
    if let Some(e) = args.epochs {
        p.train.epochs = e;
    }
    // A step limit belongs to one invocation: a resumed run is not held to the first one's.
    p.train.max_steps = args.max_steps;
    let choices = match &args.devices {
        Some(list) => crate::device::parse_device_list(list)?,
        None => vec![args.device],
    };
    let devices = start_devices(&choices)?;
    let device = devices[0].clone();
    if let Some(m) = args.max_minutes
        && !(m > 0.0 && m.is_finite())
    {
        return Err(format!("--max-minutes must be a positive number, got {m}"));
    }
    let config = p.flow_config()?;
    let all = load(p.dataset, Split::Train, args.data_dir.as_deref()).map_err(|e| e.to_string())?;
    if all.shape != p.spec.shape {
        return Err(format!(
            "the data has images of shape {}, preset '{}' expects {}",
            all.shape, p.name, p.spec.shape
        ));
    }
    let (train, val) = split_train_val(all, &p)?;

    config.validate()?;
    if args.dry_run {
        return dry_run(&p, &config, &train, &device);
    }

    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let trainer = match &state {
        Some(s) => {
            let (flow, _) = model_file::load(&out.join("last.flow"), &device)
                .map_err(|e| format!("--resume: {e}"))?;
            let optim_path = out.join("optimizer.bpk");
            let record = if s.param_ids.is_empty() || !optim_path.is_file() {
                eprintln!("--resume: no saved optimizer state; Adam's moments start afresh");
                None
            } else {
                Some(
                    burn::optim::OptimizerRecord::load(&optim_path)
                        .map_err(|e| format!("--resume: {}: {e:?}", optim_path.display()))?,
                )
            };
            let flow = match &record {
                Some(_) => {
                    with_param_ids(flow, &s.param_ids).map_err(|e| format!("--resume: {e}"))?
                }
                None => flow,
            };
            let mut t = ImageTrainer::resume(flow, p.train.clone(), &device);
            if let Some(r) = record {
                t.load_optimizer(r);
            }
            t.step = s.step;
            t.lambda = s.lambda;
            t.rng = Rng::new(p.train.seed ^ (s.epoch as u64 + 1).wrapping_mul(0x9E37));
            t
        }
        None => ImageTrainer::new(&config, p.train.clone(), &train, &device)
            .map_err(|e| e.to_string())?,
    };
    let mut trainer = trainer.with_devices(&devices).map_err(|e| e.to_string())?;
    let start_epoch = state.as_ref().map_or(0, |s| s.epoch);
    let mut best = state.as_ref().and_then(|s| s.best_val_bpd);
    let prior_seconds = state.as_ref().map_or(0.0, |s| s.seconds);
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));

    let params = trainer.model.num_params();
    eprintln!(
        "{}: {} on {} ({} train / {} val images of {}), {} parameters, {} epochs × {} steps, device {}",
        p.name,
        p.about,
        p.dataset.name(),
        train.len(),
        val.len(),
        train.shape,
        params,
        p.train.epochs,
        train.len() / p.train.batch,
        device_names(&choices)
    );
    let metrics_path = out.join("metrics.jsonl");
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(|e| format!("opening {}: {e}", metrics_path.display()))?;
    let tty = std::io::stderr().is_terminal();
    let steps_per_epoch = (train.len() / p.train.batch).max(1);
    let total_steps = p
        .train
        .max_steps
        .unwrap_or(usize::MAX)
        .min(p.train.epochs * steps_per_epoch);
    let run_start = Instant::now();
    let deadline = args
        .max_minutes
        .map(|m| run_start + std::time::Duration::from_secs_f64(m * 60.0));
    let mut out_of_time = false;
    let first_step = trainer.step;
    let mut step_seconds = 0.0f64;
    let mut step_count = 0usize;
    let mut epoch = start_epoch;
    let mut last_print = Instant::now();
    let save_state = |trainer: &ImageTrainer,
                      epoch: usize,
                      best: Option<f64>,
                      secs: f64|
     -> Result<(), String> {
        let model = trainer.inference_model();
        let meta = meta_for(
            &p,
            &model,
            serde_json::json!({"epoch": epoch, "step": trainer.step}),
        );
        model_file::save(&out.join("last.flow"), &model, &meta).map_err(|e| e.to_string())?;
        let optim_tmp = out.join("optimizer.bpk.tmp");
        trainer
            .optimizer_record()
            .save(&optim_tmp)
            .map_err(|e| format!("saving the optimizer state: {e:?}"))?;
        std::fs::rename(&optim_tmp, out.join("optimizer.bpk"))
            .map_err(|e| format!("saving the optimizer state: {e}"))?;
        let st = RunState {
            preset: p.clone(),
            epoch,
            step: trainer.step,
            best_val_bpd: best,
            lambda: trainer.lambda,
            seconds: secs,
            param_ids: trainer.param_ids(),
        };
        write_atomic(
            &out.join("state.json"),
            serde_json::to_string_pretty(&st)
                .expect("state serialises")
                .as_bytes(),
        )
    };
    let mut stopped = false;
    while epoch < p.train.epochs && trainer.step < total_steps {
        let mut order = Rng::new(p.train.seed ^ (epoch as u64 + 1).wrapping_mul(0x5851_F42D))
            .permutation(train.len());
        order.truncate(steps_per_epoch * p.train.batch);
        let mut window = (0.0f64, 0usize, 0.0f64);
        for (i, batch) in order.chunks(p.train.batch).enumerate() {
            if trainer.step >= total_steps {
                break;
            }
            if STOP.load(Ordering::SeqCst) {
                stopped = true;
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                out_of_time = true;
                break;
            }
            let t0 = Instant::now();
            let s = trainer.step(&train, batch).map_err(|e| e.to_string())?;
            step_seconds += t0.elapsed().as_secs_f64();
            step_count += 1;
            if !s.rolled_back {
                window.0 += s.loss_bpd;
                window.1 += 1;
                window.2 += s.recon;
            }
            if last_print.elapsed().as_secs_f64() > if tty { 0.5 } else { 15.0 } {
                last_print = Instant::now();
                let done = trainer.step - first_step;
                let rate = step_seconds / step_count.max(1) as f64;
                let eta = rate * (total_steps - trainer.step) as f64;
                let frac = (i + 1) as f64 / steps_per_epoch as f64;
                let bar: String = (0..20)
                    .map(|k| if (k as f64) < frac * 20.0 { '#' } else { '.' })
                    .collect();
                let line = format!(
                    "epoch {}/{} [{bar}] {}/{} · {:.3} bpd (train{}) · {:.0} ms/step · {:.1} img/s · ETA {} · {} steps done",
                    epoch + 1,
                    p.train.epochs,
                    i + 1,
                    steps_per_epoch,
                    window.0 / window.1.max(1) as f64,
                    if window.2 > 0.0 {
                        format!(", recon {:.3}", window.2 / window.1.max(1) as f64)
                    } else {
                        String::new()
                    },
                    rate * 1e3,
                    p.train.batch as f64 / rate,
                    fmt_duration(eta),
                    done
                );
                if tty {
                    eprint!("\r{line}\x1b[K");
                } else {
                    eprintln!("{line}");
                }
            }
        }
        if stopped {
            break;
        }
        epoch += 1;
        let last = epoch == p.train.epochs || trainer.step >= total_steps || out_of_time;
        if epoch.is_multiple_of(p.train.eval_every) || last {
            if tty {
                eprintln!();
            }
            let model = trainer.inference_model();
            let t0 = Instant::now();
            let val_bpd = evaluate_bpd(&model, &val, 250, &device).map_err(|e| e.to_string())?;
            let eval_seconds = t0.elapsed().as_secs_f64();
            let elapsed = prior_seconds + run_start.elapsed().as_secs_f64();
            let d = train.shape.dim();
            let ms_batch = 1e3 * step_seconds / step_count.max(1) as f64;
            let line = serde_json::json!({
                "epoch": epoch,
                "step": trainer.step,
                "train_bpd": window.0 / window.1.max(1) as f64,
                "recon": window.2 / window.1.max(1) as f64,
                "lambda": trainer.lambda,
                "val_bpd": val_bpd,
                "val_nll_nats": nll_nats_from_bpd(val_bpd, d),
                "lr": trainer.lr(),
                "seconds": elapsed,
                "ms_per_batch": ms_batch,
                "ms_per_image": ms_batch / p.train.batch as f64,
                "eval_seconds": eval_seconds,
            });
            eprintln!(
                "epoch {epoch}: val {val_bpd:.4} bits/dim ({:.1} nats), {:.0} ms/batch",
                nll_nats_from_bpd(val_bpd, d),
                ms_batch
            );
            if val_bpd.is_finite() && best.is_none_or(|b| val_bpd < b) {
                best = Some(val_bpd);
                let meta = meta_for(&p, &model, line.clone());
                model_file::save(&out.join("model.flow"), &model, &meta)
                    .map_err(|e| e.to_string())?;
            }
            let t0 = Instant::now();
            let images = sample_images(&model, 32, args.temperature, p.train.seed, &device)?;
            let mut line = line;
            line["sample_ms_per_image"] =
                serde_json::json!(t0.elapsed().as_secs_f64() * 1e3 / 32.0);
            writeln!(metrics, "{line}").map_err(|e| format!("writing metrics: {e}"))?;
            write_grid_png(
                &out.join(format!("samples-epoch{epoch}.png")),
                &images,
                train.shape,
            )?;
            save_state(&trainer, epoch, best, elapsed)?;
        }
        if out_of_time {
            eprintln!(
                "--max-minutes {}: stopped after step {} (continue with --resume --out {})",
                args.max_minutes.unwrap_or_default(),
                trainer.step,
                out.display()
            );
            break;
        }
    }
    let elapsed = prior_seconds + run_start.elapsed().as_secs_f64();
    if stopped {
        save_state(&trainer, epoch, best, elapsed)?;
        eprintln!(
            "\ninterrupted: saved {} and state.json at step {} (epoch {} restarts); continue with --resume --out {}",
            out.join("last.flow").display(),
            trainer.step,
            epoch + 1,
            out.display()
        );
        std::process::exit(130);
    }
    save_state(&trainer, epoch, best, elapsed)?;
    let mut summary = serde_json::json!({
        "preset": p.name,
        "epochs": epoch,
        "steps": trainer.step,
        "seconds": elapsed,
        "params": params,
        "best_val_bpd": best,
        "ms_per_batch": 1e3 * step_seconds / step_count.max(1) as f64,
        "device": device_names(&choices),
        "steps_per_sec": step_count as f64 / step_seconds.max(1e-9),
        // Relative to the run directory: a model file must not carry the machine's paths.
        "model": "model.flow",
    });
    if args.test_images > 0 && out.join("model.flow").is_file() {
        let (best_model, mut meta) =
            model_file::load(&out.join("model.flow"), &device).map_err(|e| e.to_string())?;
        let test = load(p.dataset, Split::Test, args.data_dir.as_deref())
            .map_err(|e| e.to_string())?
            .take(args.test_images);
        let bpd = evaluate_bpd(&best_model, &test, 250, &device).map_err(|e| e.to_string())?;
        summary["test_bpd"] = serde_json::json!(bpd);
        summary["test_nll_nats"] = serde_json::json!(nll_nats_from_bpd(bpd, test.shape.dim()));
        summary["test_images"] = serde_json::json!(test.len());
        meta.summary = Some(summary.clone());
        model_file::save(&out.join("model.flow"), &best_model, &meta).map_err(|e| e.to_string())?;
    }
    summary["out"] = serde_json::json!(out.display().to_string());
    println!("{summary}");
    Ok(())
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

/// `--dry-run`: one forward and inverse pass on a real batch.
fn dry_run(
    p: &Preset,
    config: &crate::flows::FlowConfig,
    train: &ImageSet,
    device: &burn::tensor::Device,
) -> Result<(), String> {
    device.seed(p.train.seed);
    let n = train.len().min(16);
    let idx: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(p.train.seed);
    let x = dequantize_batch(train, &idx, Some(&mut rng), device);
    let flow = config.init(device).data_init(x.clone());
    let t0 = Instant::now();
    let (z, ld) = flow.transform_to_noise(x.clone());
    let lp = flow.base.log_prob(z.clone()) + ld;
    let lp: Vec<f32> = lp
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    let forward_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let (x_back, _) = flow.inverse(z);
    let err: f32 = (x_back - x).abs().max().into_scalar::<f32>();
    let inverse_ms = t1.elapsed().as_secs_f64() * 1e3;
    let d = train.shape.dim();
    let bpd = lp
        .iter()
        .map(|&v| crate::images::bits_per_dim(v as f64, d))
        .sum::<f64>()
        / n as f64;
    println!(
        "{}",
        serde_json::json!({
            "preset": p.name,
            "dataset": p.dataset.name(),
            "params": flow.num_params(),
            "layers": flow.layers.len(),
            "dim": d,
            "batch": n,
            "initial_bpd": bpd,
            "max_inverse_error": err,
            "forward_ms": forward_ms,
            "inverse_ms": inverse_ms,
        })
    );
    if !err.is_finite() || err > 1e-2 || !bpd.is_finite() {
        return Err(format!(
            "dry run of '{}' failed: inverse error {err}, initial bits/dim {bpd}",
            p.name
        ));
    }
    Ok(())
}
