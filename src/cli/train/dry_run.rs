//! `flowplay train --dry-run`: builds the preset's model, runs one forward and inverse pass on
//! a real batch and prints what it saw, without training.

use std::time::Instant;

use burn::module::Module;

use crate::flows::FlowConfig;
use crate::images::{ImageSet, dequantize_batch};
use crate::presets::Preset;
use crate::rng::Rng;

/// `--dry-run`: one forward and inverse pass on a real batch.
pub fn run(
    p: &Preset,
    config: &FlowConfig,
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
    let lp: Vec<f32> = crate::readback::to_host(lp)?;
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
