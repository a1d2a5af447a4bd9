//! One invocation of `flowplay train` once everything is loaded: the epochs, each with its
//! progress line; evaluate-and-checkpoint at the end of an epoch; the final test; and the
//! state that `--resume` continues from.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::progress::{EpochWindow, ProgressLine};
use super::resume::ResumeState;
use crate::cli::Outcome;
use crate::cli::image_io::{sample_images, write_grid_png};
use crate::flows::Flow;
use crate::images::fetch::load;
use crate::images::{ImageSet, Split, nll_nats_from_bpd};
use crate::model_file::{self, FlowMeta, ImageMeta};
use crate::presets::Preset;
use crate::rng::Rng;
use crate::train::images::{ImageTrainer, evaluate_bpd, evaluate_labels};

/// Images per evaluation batch.
const EVAL_BATCH: usize = 250;

/// How an epoch's loop ended.
enum EpochEnd {
    /// All its steps, or the run's step limit.
    Completed,
    /// Ctrl-C.
    Interrupted,
    /// `--max-minutes` ran out.
    OutOfTime,
}

/// A training run in progress and everything it writes to.
pub struct TrainingRun {
    pub preset: Preset,
    pub out: PathBuf,
    pub trainer: ImageTrainer,
    pub train: ImageSet,
    pub val: ImageSet,
    pub device: burn::tensor::Device,
    /// The devices as the user named them (for the log and the summary).
    pub device_names: String,
    pub temperature: f32,
    pub limits: TimeLimits,
    /// Epochs completed.
    pub epoch: usize,
    /// Steps done of the epoch under way (a run stopped mid-epoch resumes after them).
    pub step_in_epoch: usize,
    /// The best validation objective so far (bits/dim; a hybrid: bits/dim + β·label NLL).
    pub best: Option<f64>,
    /// The validation bits/dim of the epoch with the best objective.
    pub best_bpd: Option<f64>,
    /// Training seconds of the earlier invocations of a resumed run.
    pub prior_seconds: f64,
    started: Instant,
    step_seconds: f64,
    step_count: usize,
    first_step: usize,
    metrics: File,
    /// `--image-folder`: the folder's name and its held-out test images.
    pub own_data: Option<OwnData>,
}

/// When a run must stop, by the clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeLimits {
    /// `--max-minutes`: training stops this long after it started (evaluation comes after).
    pub max_minutes: Option<f64>,
    /// `--lease-minutes`: the whole command ends by this instant; training stops early enough
    /// for the evaluation, the test and the saving to fit before it.
    pub lease_end: Option<Instant>,
    /// Test images evaluated after training (part of what the lease must leave time for).
    pub test_images: usize,
}

/// Images from a user's folder instead of the preset's data set.
pub struct OwnData {
    /// The folder's name (the model's `dataset`).
    pub name: String,
    /// The images held out for the final test.
    pub test: ImageSet,
}

impl TrainingRun {
    /// Opens `metrics.jsonl` for appending and installs the Ctrl-C handler.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        preset: Preset,
        out: PathBuf,
        trainer: ImageTrainer,
        (train, val): (ImageSet, ImageSet),
        device: burn::tensor::Device,
        device_names: String,
        state: Option<&ResumeState>,
        (temperature, limits): (f32, TimeLimits),
    ) -> Result<Self, String> {
        let metrics_path = out.join("metrics.jsonl");
        let metrics = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .map_err(|e| format!("opening {}: {e}", metrics_path.display()))?;
        crate::cli::stop::install();
        Ok(Self {
            first_step: trainer.step,
            preset,
            out,
            trainer,
            train,
            val,
            device,
            device_names,
            temperature,
            limits,
            epoch: state.map_or(0, |s| s.epoch),
            step_in_epoch: state.map_or(0, |s| s.step_in_epoch),
            best: state.and_then(|s| s.best_val_bpd),
            // An older state has only the objective, which is bits/dim unless the model is a
            // hybrid.
            best_bpd: state.and_then(|s| {
                s.best_epoch_bpd
                    .or(s.best_val_bpd.filter(|_| s.preset.spec.hybrid.is_none()))
            }),
            prior_seconds: state.map_or(0.0, |s| s.seconds),
            started: Instant::now(),
            step_seconds: 0.0,
            step_count: 0,
            metrics,
            own_data: None,
        })
    }

    fn steps_per_epoch(&self) -> usize {
        (self.train.len() / self.preset.train.batch).max(1)
    }

    fn total_steps(&self) -> usize {
        let t = &self.preset.train;
        t.max_steps
            .unwrap_or(usize::MAX)
            .min(t.epochs * self.steps_per_epoch())
    }

    fn seconds(&self) -> f64 {
        self.prior_seconds + self.started.elapsed().as_secs_f64()
    }

    fn seconds_per_step(&self) -> f64 {
        self.step_seconds / self.step_count.max(1) as f64
    }

    /// Trains epoch after epoch until the epochs, the step limit, the time or Ctrl-C end it.
    /// A run stopped mid-epoch (the clock, Ctrl-C) records how far it got, and `--resume`
    /// continues that epoch's order where it stopped.
    pub fn train(&mut self) -> Result<Outcome, String> {
        let deadline = self.training_deadline()?;
        while self.epoch < self.preset.train.epochs && self.trainer.step < self.total_steps() {
            let (end, window) = self.one_epoch(deadline)?;
            if let EpochEnd::Interrupted = end {
                self.save_state()?;
                eprintln!(
                    "\ninterrupted: saved {} and state.json at step {} (epoch {}, step {} of it); continue with --resume --out {}",
                    self.out.join("last.flow").display(),
                    self.trainer.step,
                    self.epoch + 1,
                    self.step_in_epoch,
                    self.out.display()
                );
                return Ok(Outcome::Interrupted);
            }
            let finished = self.step_in_epoch == 0;
            if finished {
                self.epoch += 1;
            }
            let out_of_time = matches!(end, EpochEnd::OutOfTime);
            let last = self.epoch == self.preset.train.epochs
                || self.trainer.step >= self.total_steps()
                || out_of_time;
            if (finished && self.epoch.is_multiple_of(self.preset.train.eval_every)) || last {
                self.evaluate_and_checkpoint(window)?;
            }
            if out_of_time {
                eprintln!(
                    "out of time: stopped after step {} (epoch {}, step {} of it); continue with --resume --out {}",
                    self.trainer.step,
                    self.epoch + 1,
                    self.step_in_epoch,
                    self.out.display()
                );
                break;
            }
        }
        self.save_state()?;
        Ok(Outcome::Done)
    }

    /// When training must stop: `--max-minutes` after the start, and under `--lease-minutes`
    /// early enough for what follows it — validation, the test images, a sample grid and the
    /// saving, estimated from a timed evaluation of up to 100 validation images (×1.5, + 20 s).
    fn training_deadline(&self) -> Result<Option<Instant>, String> {
        let by_max = self
            .limits
            .max_minutes
            .map(|m| self.started + Duration::from_secs_f64(m * 60.0));
        let Some(lease_end) = self.limits.lease_end else {
            return Ok(by_max);
        };
        let probe = self.val.take(100);
        let t0 = Instant::now();
        let model = self.trainer.inference_model();
        evaluate_bpd(&model, &probe, EVAL_BATCH, &self.device).map_err(|e| e.to_string())?;
        let per_image = t0.elapsed().as_secs_f64() / probe.len().max(1) as f64;
        let after = self.val.len() + self.limits.test_images + 64;
        let reserve = Duration::from_secs_f64(1.5 * per_image * after as f64 + 20.0);
        let now = Instant::now();
        let Some(deadline) = lease_end.checked_sub(reserve).filter(|d| *d > now) else {
            return Err(format!(
                "--lease-minutes leaves no time to train: evaluating and saving need about {:.0} s \
                 ({:.1} ms per image, {} images)",
                reserve.as_secs_f64(),
                per_image * 1e3,
                after
            ));
        };
        eprintln!(
            "lease: training stops in {:.1} min, {:.1} min kept for evaluation and saving",
            (deadline - now).as_secs_f64() / 60.0,
            reserve.as_secs_f64() / 60.0
        );
        Ok(Some(by_max.map_or(deadline, |m| m.min(deadline))))
    }

    /// The steps of one epoch over a fresh permutation of the training images.
    fn one_epoch(&mut self, deadline: Option<Instant>) -> Result<(EpochEnd, EpochWindow), String> {
        let batch = self.preset.train.batch;
        let steps_per_epoch = self.steps_per_epoch();
        let total = self.total_steps();
        let tty = std::io::stderr().is_terminal();
        let print_every = if tty { 0.5 } else { 15.0 };
        let mut order =
            Rng::new(self.preset.train.seed ^ (self.epoch as u64 + 1).wrapping_mul(0x5851_F42D))
                .permutation(self.train.len());
        order.truncate(steps_per_epoch * batch);
        let mut window = EpochWindow::default();
        let mut last_print = Instant::now();
        let done = self.step_in_epoch;
        for (i, indices) in order.chunks(batch).enumerate().skip(done) {
            // Steps of this epoch done so far: where a stop here resumes.
            self.step_in_epoch = i;
            if self.trainer.step >= total {
                // The step limit leaves the epoch unfinished, to be continued.
                return Ok((EpochEnd::Completed, window));
            }
            if crate::cli::stop::requested() {
                return Ok((EpochEnd::Interrupted, window));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((EpochEnd::OutOfTime, window));
            }
            let t0 = Instant::now();
            let s = self
                .trainer
                .train_step(&self.train, indices)
                .map_err(|e| e.to_string())?;
            self.step_seconds += t0.elapsed().as_secs_f64();
            self.step_count += 1;
            if !s.rolled_back {
                window.add(s.loss_bpd, s.recon);
            }
            if last_print.elapsed().as_secs_f64() > print_every {
                last_print = Instant::now();
                let line = ProgressLine {
                    epoch: self.epoch + 1,
                    epochs: self.preset.train.epochs,
                    step_in_epoch: i + 1,
                    steps_per_epoch,
                    window,
                    seconds_per_step: self.seconds_per_step(),
                    batch,
                    eta_seconds: self.seconds_per_step() * (total - self.trainer.step) as f64,
                    steps_done: self.trainer.step - self.first_step,
                };
                if tty {
                    eprint!("\r{line}\x1b[K");
                } else {
                    eprintln!("{line}");
                }
            }
        }
        if tty {
            eprintln!();
        }
        self.step_in_epoch = 0;
        Ok((EpochEnd::Completed, window))
    }

    /// Validation bits/dim, a metrics line, `model.flow` when it is the best so far, a sample
    /// grid, and the resume state.
    fn evaluate_and_checkpoint(&mut self, window: EpochWindow) -> Result<(), String> {
        let model = self.trainer.inference_model();
        let t0 = Instant::now();
        let val_bpd =
            evaluate_bpd(&model, &self.val, EVAL_BATCH, &self.device).map_err(|e| e.to_string())?;
        let eval_seconds = t0.elapsed().as_secs_f64();
        let d = self.train.shape.dim();
        let ms_batch = 1e3 * self.seconds_per_step();
        let mut line = serde_json::json!({
            "epoch": self.epoch,
            "step": self.trainer.step,
            "step_in_epoch": self.step_in_epoch,
            "train_bpd": window.mean_bpd(),
            "recon": window.mean_recon(),
            "lambda": self.trainer.lambda,
            "val_bpd": val_bpd,
            "val_nll_nats": nll_nats_from_bpd(val_bpd, d),
            "lr": self.trainer.lr(),
            "seconds": self.seconds(),
            "ms_per_batch": ms_batch,
            "ms_per_image": ms_batch / self.preset.train.batch as f64,
            "eval_seconds": eval_seconds,
        });
        eprintln!(
            "epoch {}: val {val_bpd:.4} bits/dim ({:.1} nats), {ms_batch:.0} ms/batch",
            self.epoch,
            nll_nats_from_bpd(val_bpd, d),
        );
        // A hybrid model is kept by its training objective on the validation images.
        let mut objective = val_bpd;
        if let Some((accuracy, label_nll)) =
            evaluate_labels(&model, &self.val, EVAL_BATCH, &self.device)
                .map_err(|e| e.to_string())?
        {
            line["val_accuracy"] = serde_json::json!(accuracy);
            line["val_label_nll"] = serde_json::json!(label_nll);
            objective += model.config().head.map_or(0.0, |h| h.label_weight) * label_nll;
            eprintln!(
                "epoch {}: val accuracy {accuracy:.4}, label NLL {label_nll:.4} nats",
                self.epoch
            );
        }
        if objective.is_finite() && self.best.is_none_or(|b| objective < b) {
            self.best = Some(objective);
            self.best_bpd = Some(val_bpd);
            let meta = meta_for(&self.preset, self.data_name(), &model, line.clone());
            model_file::save(&self.out.join("model.flow"), &model, &meta)
                .map_err(|e| e.to_string())?;
        }
        let t0 = Instant::now();
        let seed = self.preset.train.seed;
        let images = sample_images(&model, 32, self.temperature, None, seed, &self.device)?;
        line["sample_ms_per_image"] = serde_json::json!(t0.elapsed().as_secs_f64() * 1e3 / 32.0);
        writeln!(self.metrics, "{line}").map_err(|e| format!("writing metrics: {e}"))?;
        let grid = match self.step_in_epoch {
            0 => self.out.join(format!("samples-epoch{}.png", self.epoch)),
            _ => self
                .out
                .join(format!("samples-step{}.png", self.trainer.step)),
        };
        write_grid_png(&grid, &images, self.train.shape, 8)?;
        self.save_state()
    }

    /// `last.flow`, `optimizer.bpk` and `state.json`: everything `--resume` continues from.
    fn save_state(&self) -> Result<(), String> {
        let model = self.trainer.inference_model();
        let summary = serde_json::json!({
            "epoch": self.epoch,
            "step": self.trainer.step,
            "step_in_epoch": self.step_in_epoch,
        });
        let meta = meta_for(&self.preset, self.data_name(), &model, summary);
        model_file::save(&self.out.join("last.flow"), &model, &meta).map_err(|e| e.to_string())?;
        let optimizer = self
            .trainer
            .optimizer_record()
            .into_bytes()
            .map_err(|e| format!("saving the optimizer state: {e:?}"))?;
        crate::atomic_file::write(&self.out.join("optimizer.bpk"), &optimizer)
            .map_err(|e| format!("saving the optimizer state: {e}"))?;
        let state = ResumeState {
            preset: self.preset.clone(),
            epoch: self.epoch,
            step: self.trainer.step,
            step_in_epoch: self.step_in_epoch,
            rng_state: Some(self.trainer.rng.state()),
            best_val_bpd: self.best,
            best_epoch_bpd: self.best_bpd,
            lambda: self.trainer.lambda,
            seconds: self.seconds(),
            param_ids: self.trainer.param_ids(),
        };
        let json = serde_json::to_string_pretty(&state).expect("the state serialises");
        let path = self.out.join("state.json");
        crate::atomic_file::write(&path, json.as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// The run's summary; with `test_images > 0`, the best model's test bits/dim too (also
    /// written into `model.flow`'s metadata).
    pub fn summary(
        &self,
        test_images: usize,
        data_dir: Option<&std::path::Path>,
    ) -> Result<serde_json::Value, String> {
        let mut summary = serde_json::json!({
            "preset": self.preset.name,
            "epochs": self.epoch,
            "steps": self.trainer.step,
            "seconds": self.seconds(),
            "params": burn::module::Module::num_params(&self.trainer.model),
            // The best epoch's validation bits/dim, and the objective that chose it (equal
            // but for a hybrid model, whose objective adds β·label NLL).
            "best_val_bpd": self.best_bpd,
            "best_val_objective": self.best,
            "ms_per_batch": 1e3 * self.seconds_per_step(),
            "device": self.device_names,
            "steps_per_sec": self.step_count as f64 / self.step_seconds.max(1e-9),
            // Relative to the run directory: a model file must not carry the machine's paths.
            "model": "model.flow",
        });
        let best_path = self.out.join("model.flow");
        if test_images > 0 && best_path.is_file() {
            let (best_model, mut meta) =
                model_file::load(&best_path, &self.device).map_err(|e| e.to_string())?;
            let test = match &self.own_data {
                Some(own) => own.test.clone(),
                None => {
                    load(self.preset.dataset, Split::Test, data_dir).map_err(|e| e.to_string())?
                }
            }
            .take(test_images);
            let bpd = evaluate_bpd(&best_model, &test, EVAL_BATCH, &self.device)
                .map_err(|e| e.to_string())?;
            summary["test_bpd"] = serde_json::json!(bpd);
            if let Some((accuracy, label_nll)) =
                evaluate_labels(&best_model, &test, EVAL_BATCH, &self.device)
                    .map_err(|e| e.to_string())?
            {
                summary["test_accuracy"] = serde_json::json!(accuracy);
                summary["test_label_nll"] = serde_json::json!(label_nll);
            }
            summary["test_nll_nats"] = serde_json::json!(nll_nats_from_bpd(bpd, test.shape.dim()));
            summary["test_images"] = serde_json::json!(test.len());
            meta.summary = Some(summary.clone());
            model_file::save(&best_path, &best_model, &meta).map_err(|e| e.to_string())?;
        }
        summary["out"] = serde_json::json!(self.out.display().to_string());
        Ok(summary)
    }
}

impl TrainingRun {
    /// What the model was trained on: the preset's data set or the user's folder.
    fn data_name(&self) -> &str {
        match &self.own_data {
            Some(own) => &own.name,
            None => self.preset.dataset.name(),
        }
    }
}

/// The `.flow` metadata of an image model of preset `p` trained on `data`.
fn meta_for(p: &Preset, data: &str, flow: &Flow, summary: serde_json::Value) -> FlowMeta {
    let mut meta = FlowMeta::new(flow.config().clone());
    meta.target = Some(data.to_string());
    meta.summary = Some(summary);
    meta.image = Some(ImageMeta {
        shape: p.spec.shape,
        dataset: Some(data.to_string()),
        preset: Some(p.name.clone()),
    });
    meta
}
