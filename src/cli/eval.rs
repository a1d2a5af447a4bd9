//! `flowplay eval --model m.flow --data mnist-test`: the exact test log-likelihood of an image
//! model, as one JSON line with `bits_per_dim` and `nll_nats` (SNF's unit: nats per image,
//! discrete, `= bpd · D · ln 2`).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

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
}

pub fn run(a: EvalArgs) -> Result<(), String> {
    let device = inference_device(a.device)?;
    let (flow, shape) = load_image_model(&a.model, &device)?;
    let set = load_split(&a.data, a.data_dir.as_deref(), a.limit, shape)?;
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
