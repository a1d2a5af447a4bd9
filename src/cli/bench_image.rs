//! `flowplay bench image-step`: the time of one training step of an image preset on a device,
//! the twin of `benches/pytorch_glow.py` (same layers, same batch): the first step (on a GPU:
//! shader compilation and autotuning), then the mean of the timed steps after warm-up, and the
//! device reads per step (values brought back to the host: the loss, and the reconstruction or
//! label loss where the model has one). Kernel launches are counted from CubeCL's own log by
//! `benches/kernel-launches.sh`. Printed as one JSON line, never asserted.

use std::time::Instant;

use clap::Args;
use serde_json::json;

use crate::device::{BackendChoice, inference_device};
use crate::images::ImageSet;
use crate::presets;
use crate::rng::Rng;
use crate::train::images::ImageTrainer;

#[derive(Args, Debug)]
pub struct ImageStepArgs {
    /// The preset whose model and batch are timed.
    #[arg(long, default_value = "glow_mnist_gpu")]
    pub preset: String,
    /// cpu, wgpu[:N] (feature `wgpu`) or cuda[:N] (feature `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: BackendChoice,
    /// Timed steps (after warm-up).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed warm-up steps after the first.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Override the preset's batch.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Override the preset's coupling width (a smaller model for a software device).
    #[arg(long)]
    pub width: Option<usize>,
    /// Override the preset's steps per level.
    #[arg(long)]
    pub depth: Option<usize>,
}

/// Random pixels of the preset's shape (a step's time does not depend on their values).
fn random_images(shape: crate::flows::image::ImageShape, n: usize, seed: u64) -> ImageSet {
    let mut rng = Rng::new(seed);
    ImageSet {
        shape,
        pixels: (0..n * shape.dim()).map(|_| rng.below(256) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    }
}

pub fn run(a: ImageStepArgs) -> Result<(), String> {
    let mut p = presets::find(&a.preset)?;
    if let Some(b) = a.batch {
        p.train.batch = b.max(1);
    }
    if let Some(w) = a.width {
        p.spec.hidden = w;
    }
    if let Some(d) = a.depth {
        p.spec.steps = d;
    }
    let device = inference_device(a.device)?;
    let config = p.flow_config()?;
    let batch = p.train.batch;
    let data = random_images(p.spec.shape, batch * 4, 1);
    let mut trainer =
        ImageTrainer::new(&config, p.train.clone(), &data, &device).map_err(|e| e.to_string())?;
    let indices =
        |k: usize| -> Vec<usize> { (0..batch).map(|i| (k * batch + i) % data.len()).collect() };
    let t0 = Instant::now();
    trainer
        .train_step(&data, &indices(0))
        .map_err(|e| e.to_string())?;
    let first = t0.elapsed().as_secs_f64();
    for k in 0..a.warmup {
        trainer
            .train_step(&data, &indices(k + 1))
            .map_err(|e| e.to_string())?;
    }
    let reads0 = crate::readback::reads();
    let t0 = Instant::now();
    for k in 0..a.steps.max(1) {
        trainer
            .train_step(&data, &indices(k))
            .map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let steps = a.steps.max(1) as f64;
    let reads = (crate::readback::reads() - reads0) as f64 / steps;
    println!(
        "{}",
        json!({
            "bench": format!("flowplay_{}", p.name),
            "device": a.device.to_string(),
            "params": burn::module::Module::num_params(&trainer.model),
            "batch": batch,
            "steps": a.steps.max(1),
            "first_step_seconds": first,
            "ms_per_step": 1e3 * secs / steps,
            "steps_per_sec": steps / secs,
            "readbacks_per_step": reads,
        })
    );
    Ok(())
}
