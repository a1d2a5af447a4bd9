//! `flowplay eval --model m.flow --data mnist-test`: the exact test log-likelihood of an image
//! model, as one JSON line with `bits_per_dim` and `nll_nats` (SNF's unit: nats per image,
//! discrete, `= bpd · D · ln 2`). With `--task classify` and a class-conditional or hybrid
//! model: the classifier's accuracy, NLL of the labels, expected calibration error (15 bins),
//! bits/dim of the marginal `p(x)` and of `p(x | y)`, and the confusion matrix
//! ([`crate::explore::classify`]).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::image_io::{load_image_model, load_split};
use crate::device::{BackendChoice, inference_device};
use crate::images::nll_nats_from_bpd;
use crate::train::images::evaluate_bpd_with_progress;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The `.flow` model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Data set and split: mnist-test, mnist-train, fashion-mnist-test, cifar10-test, …
    #[arg(long)]
    pub data: String,
    /// Evaluate only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Directory with the data files (default: the `flowplay data fetch` cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// cpu, wgpu[:N] (feature `wgpu`) or cuda[:N] (feature `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: BackendChoice,
    /// Images per forward pass.
    #[arg(long, default_value_t = 250)]
    pub batch: usize,
    /// density (bits/dim) or classify (a class-conditional model's Bayes classifier, or a hybrid
    /// model's label head).
    #[arg(long, default_value = "density")]
    pub task: Task,
    /// Write the figures into the model file's summary (`test_bpd`, or `test_accuracy` and
    /// `test_label_nll`), where `models index` reads them: only for a whole test split.
    #[arg(long)]
    pub record: bool,
}

/// What `eval` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    Density,
    Classify,
}

pub fn run(a: EvalArgs) -> Result<(), String> {
    let device = inference_device(a.device)?;
    let (flow, shape) = load_image_model(&a.model, &device)?;
    let set = load_split(&a.data, a.data_dir.as_deref(), a.limit, shape)?;
    if a.record && (a.limit.is_some() || !a.data.ends_with("-test")) {
        return Err(format!(
            "--record writes a test figure into {}: it needs a whole test split (e.g. mnist-test) \
             and no --limit",
            a.model.display()
        ));
    }
    if a.task == Task::Classify {
        return classify(&a, &flow, &set, &device);
    }
    let t0 = Instant::now();
    let mut last = Instant::now();
    let bpd = evaluate_bpd_with_progress(&flow, &set, a.batch, &device, |done, total| {
        if last.elapsed().as_secs_f64() > 2.0 || done == total {
            last = Instant::now();
            let secs = t0.elapsed().as_secs_f64();
            let eta = secs / done as f64 * (total - done) as f64;
            eprintln!("evaluated {done}/{total} images ({secs:.0} s, ETA {eta:.0} s)");
        }
    })
    .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    if a.record {
        let figures = [("test_bpd", json!(bpd)), ("test_images", json!(set.len()))];
        record(&a.model, &flow, &figures)?;
    }
    println!(
        "{}",
        serde_json::json!({
            "model": a.model.display().to_string(),
            "data": a.data,
            "images": set.len(),
            "bits_per_dim": bpd,
            "nll_nats": nll_nats_from_bpd(bpd, set.shape.dim()),
            "seconds": secs,
            "ms_per_image": secs * 1e3 / set.len().max(1) as f64,
        })
    );
    Ok(())
}

/// `--task classify`: every test image scored under every class.
fn classify(
    a: &EvalArgs,
    flow: &crate::flows::Flow,
    set: &crate::images::ImageSet,
    device: &burn::tensor::Device,
) -> Result<(), String> {
    use crate::explore::classify::{Classifier, ClassifierScores, class_scores};
    let classifier = Classifier::of(flow).ok_or_else(|| {
        format!(
            "{} is neither a class-conditional nor a hybrid model: --task classify needs one (e.g. \
             `flowplay train --preset glow_mnist_hybrid_small`)",
            a.model.display()
        )
    })?;
    let k = classifier.classes();
    let t0 = Instant::now();
    let mut last = Instant::now();
    let mut scores = ClassifierScores::new(set.shape.dim(), k);
    let indices: Vec<usize> = (0..set.len()).collect();
    let chunk = match classifier {
        Classifier::Generative { .. } => (a.batch / k).max(1),
        Classifier::Hybrid { .. } => a.batch.max(1),
    };
    for batch in indices.chunks(chunk) {
        let x = crate::images::dequantize_batch(set, batch, None, device);
        let scored =
            pollster::block_on(class_scores(flow, classifier, x)).map_err(|e| e.to_string())?;
        for (&i, s) in batch.iter().zip(&scored) {
            scores.add_scores(set.labels[i] as usize, s);
        }
        let done = batch.last().map_or(0, |i| i + 1);
        if last.elapsed().as_secs_f64() > 2.0 || done == set.len() {
            last = Instant::now();
            let secs = t0.elapsed().as_secs_f64();
            let r = scores.report();
            eprintln!(
                "classified {done}/{} images · accuracy so far {:.4} ({secs:.0} s)",
                set.len(),
                r.accuracy
            );
        }
    }
    let r = scores.report();
    if a.record {
        let figures = [
            ("test_accuracy", json!(r.accuracy)),
            ("test_label_nll", json!(r.label_nll)),
            ("test_images", json!(r.images)),
        ];
        record(&a.model, flow, &figures)?;
    }
    println!(
        "{}",
        serde_json::json!({
            "model": a.model.display().to_string(),
            "data": a.data,
            "task": "classify",
            "classifier": classifier.name(),
            "images": r.images,
            "accuracy": r.accuracy,
            "label_nll": r.label_nll,
            "ece": r.ece,
            "ece_bins": 15,
            "bits_per_dim": r.bits_per_dim,
            "bits_per_dim_given_label": r.bits_per_dim_given_label,
            "confusion": r.confusion,
            "seconds": t0.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

/// Writes `figures` into the summary of the model file at `path` (weights unchanged; a
/// temporary file renamed into place).
fn record(
    path: &std::path::Path,
    flow: &crate::flows::Flow,
    figures: &[(&str, serde_json::Value)],
) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut meta = crate::model_file::read_meta(&bytes).map_err(|e| e.to_string())?;
    let summary = meta.summary.get_or_insert_with(|| serde_json::json!({}));
    if !summary.is_object() {
        *summary = serde_json::json!({});
    }
    for (key, value) in figures {
        summary[*key] = value.clone();
    }
    crate::model_file::save(path, flow, &meta).map_err(|e| e.to_string())?;
    eprintln!(
        "recorded {} in {}",
        figures.iter().map(|f| f.0).collect::<Vec<_>>().join(", "),
        path.display()
    );
    Ok(())
}
