//! The training loop of `fit2d` and `fit`: steps until the end or Ctrl-C, a progress line per
//! evaluation, and the model of the best validation NLL kept aside.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::Outcome;
use crate::flows::Flow;
use crate::model_file::{self, FlowMeta};
use crate::train::{HistoryPoint, TrainError, Trainer};

/// The best validation so far: (validation NLL, step, model).
pub type Best = Option<(f64, usize, Flow)>;

/// Trains to the end, keeping the model of the best validation NLL, with a progress line per
/// evaluation unless `quiet`.
pub fn train_keeping_best(trainer: &mut Trainer, quiet: bool) -> Finished {
    super::stop::install();
    let start = Instant::now();
    let total = trainer.settings.steps;
    let mut best: Best = None;
    let mut see = |t: &Trainer, p: &HistoryPoint| {
        if let Some(v) = p.val_nll
            && v.is_finite()
            && best.as_ref().is_none_or(|(b, _, _)| v < *b)
        {
            best = Some((v, t.step, t.inference_model()));
        }
        if !quiet {
            eprintln!(
                "{}",
                progress_line(t.step, total, p, start.elapsed().as_secs_f64())
            );
        }
    };
    let mut interrupted = false;
    let outcome = pollster::block_on(async {
        if let Some(p) = trainer.record_start().await? {
            see(trainer, &p);
        }
        while trainer.step < total {
            if super::stop::requested() {
                interrupted = true;
                break;
            }
            if let (_, Some(p)) = trainer.step_and_record().await? {
                see(trainer, &p);
            }
        }
        Ok(())
    });
    Finished {
        outcome,
        best,
        interrupted,
    }
}

/// How a run ended: its error if any, the best model, and whether Ctrl-C stopped it.
pub struct Finished {
    pub outcome: Result<(), TrainError>,
    pub best: Best,
    pub interrupted: bool,
}

/// `step 200/2000 loss … val NLL … lr … steps/s ETA …`.
fn progress_line(step: usize, total: usize, p: &HistoryPoint, elapsed: f64) -> String {
    let val = p
        .val_nll
        .map(|v| format!("  val NLL {v:.4}"))
        .unwrap_or_default();
    if step == 0 {
        return format!("  step {:>6}/{total}  (before training){val}", 0);
    }
    let rate = step as f64 / elapsed.max(1e-9);
    let eta = (total - step) as f64 / rate.max(1e-9);
    format!(
        "  step {step:>6}/{total}  loss {:>9.4}{val}  lr {:.1e}  {rate:6.1} steps/s  ETA {eta:5.0}s",
        p.train_loss.unwrap_or(f64::NAN),
        p.lr
    )
}

impl Finished {
    /// The step of the best model, when it is not the last one.
    pub fn best_step(&self, last_step: usize) -> Option<usize> {
        self.best
            .as_ref()
            .map(|(_, step, _)| *step)
            .filter(|&s| s != last_step)
    }

    /// The model to save: the best one when validation chose one, else the last.
    pub fn chosen(&self, trainer: &Trainer) -> (Flow, Option<usize>) {
        match &self.best {
            Some((_, step, m)) if *step != trainer.step => (m.clone(), Some(*step)),
            _ => (trainer.inference_model(), None),
        }
    }
}

/// Saves the chosen model to `out` (and the last one beside it as `<name>.last.flow` when they
/// differ), with the history and `summary` in its metadata; prints the summary as the last
/// stdout line. Whatever stopped the run, what was trained is saved first.
pub fn save_fit(
    out: &Path,
    trainer: &Trainer,
    finished: Finished,
    mut meta: FlowMeta,
    mut summary: serde_json::Value,
    quiet: bool,
) -> Result<Outcome, String> {
    let (model, best_step) = finished.chosen(trainer);
    if finished.interrupted {
        summary["interrupted"] = json!(true);
    }
    meta.history = Some(trainer.history.clone());
    meta.summary = Some(summary.clone());
    model_file::save(out, &model, &meta).map_err(|e| e.to_string())?;
    if best_step.is_some() {
        // The final parameters too, beside the best ones (same metadata, last history point).
        let last_path = out.with_extension("last.flow");
        model_file::save(&last_path, &trainer.inference_model(), &meta)
            .map_err(|e| e.to_string())?;
        summary["last_model"] = json!(last_path.display().to_string());
    }
    // The printed line names where the model went; the file itself carries no machine path.
    summary["out"] = json!(out.display().to_string());
    if !quiet {
        eprintln!("saved {}", out.display());
    }
    println!("{summary}");
    if finished.interrupted {
        eprintln!(
            "interrupted at step {}: the model so far is saved in {}",
            trainer.step,
            out.display()
        );
        return Ok(Outcome::Interrupted);
    }
    finished
        .outcome
        .map(|()| Outcome::Done)
        .map_err(|e| format!("{e} (the model was saved to {})", out.display()))
}
