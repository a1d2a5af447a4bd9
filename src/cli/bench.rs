//! `flowplay bench`: speed figures, printed (never asserted).
//! - training steps/s of RealNVP with 8 affine couplings, conditioner MLP 2→128→128→(s,t),
//!   batch 1024, Adam, on the CPU device (flex);
//! - log-density throughput on a 200×200 grid (points/s), in chunks of 4096.

use std::time::Instant;

use burn::tensor::Device;
use clap::Args;
use serde_json::json;

use crate::device::available_threads;
use crate::evaluate::log_density_grid;
use crate::flows::{FlowKind, FlowSpec};
use crate::rng::Rng;
use crate::targets::{SampleSet, Target};
use crate::train::{Objective, TrainSettings, Trainer};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Another benchmark than the 2D one.
    #[command(subcommand)]
    pub other: Option<BenchCommand>,
    /// Timed training steps (after warm-up).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    /// CPU threads for training (data-parallel replicas) and the grid (default: every core).
    /// Training is also timed on one thread.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Grid evaluations to time (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub grid_reps: usize,
    /// Also time one thread with the fused CPU operations off (Burn's own operations for the
    /// linear layers and the affine transform), and print what the fusion gains.
    #[arg(long)]
    pub unfused: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The benchmarks besides the 2D one.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// SNF's time per training step vs D, exact vs self-normalized layers (a figure).
    Timescaling(super::timescaling::TimescalingArgs),
    /// One training step of an image preset on a device (the twin of benches/pytorch_glow.py).
    ImageStep(super::bench_image::ImageStepArgs),
}

pub fn run(a: BenchArgs) -> Result<(), String> {
    match a.other {
        Some(BenchCommand::Timescaling(t)) => return super::timescaling::run(t),
        Some(BenchCommand::ImageStep(i)) => return super::bench_image::run(i),
        None => {}
    }
    let device = crate::device::cpu();
    let threads = a.threads.unwrap_or_else(available_threads).max(1);
    eprintln!(
        "bench: RealNVP 8 couplings, MLP 2→128→128→4, batch {}, Adam, CPU (flex); {} warm-up + {} timed steps",
        a.batch, a.warmup, a.steps
    );
    let (one_thread, mut trainer) = time_training(&a, 1, &device)?;
    println!(
        "training, 1 thread: {one_thread:.1} steps/s ({:.2} ms/step)",
        1e3 / one_thread
    );
    let unfused = if a.unfused {
        crate::fused::set_enabled(false);
        let timed = time_training(&a, 1, &device);
        crate::fused::set_enabled(true);
        let (unfused, _) = timed?;
        println!(
            "training, 1 thread, unfused (Burn's own operations): {unfused:.1} steps/s ({:.2} ms/step) → fused ÷ unfused {:.2}×",
            1e3 / unfused,
            one_thread / unfused
        );
        Some(unfused)
    } else {
        None
    };
    let mut steps_per_sec = one_thread;
    if threads > 1 {
        (steps_per_sec, trainer) = time_training(&a, threads, &device)?;
        println!(
            "training, {threads} threads (data-parallel replicas): {steps_per_sec:.1} steps/s ({:.2} ms/step)",
            1e3 / steps_per_sec
        );
    }
    let model = trainer.inference_model();
    let bounds = Target::Samples(SampleSet::Moons).bounds();
    let mut times = Vec::new();
    for _ in 0..a.grid_reps.max(1) {
        let t = Instant::now();
        let g = log_density_grid(&model, &bounds, 200, &device)?;
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(g.len(), 40_000);
    }
    let grid_s = median(times);
    println!(
        "grid log-density, {} threads: 200×200 in {:.1} ms → {:.0} points/s",
        available_threads(),
        grid_s * 1e3,
        40_000.0 / grid_s
    );
    println!(
        "{}",
        json!({
            "bench": "realnvp8x128_moons_cpu",
            "batch": a.batch,
            "timed_steps": a.steps,
            "threads": threads,
            "train_steps_per_sec": steps_per_sec,
            "train_steps_per_sec_1_thread": one_thread,
            "train_steps_per_sec_1_thread_unfused": unfused,
            "grid_points": 40_000,
            "grid_ms": grid_s * 1e3,
            "grid_points_per_sec": 40_000.0 / grid_s,
        })
    );
    Ok(())
}

/// Steps/s of the bench model trained with its batches split over `threads` replicas, and the
/// trainer (for the grid).
fn time_training(a: &BenchArgs, threads: usize, device: &Device) -> Result<(f64, Trainer), String> {
    let spec = FlowSpec::new(FlowKind::Realnvp, 2)
        .with_layers(8)
        .with_hidden(128);
    let data = SampleSet::Moons.sample(50_000, &mut Rng::new(0));
    let settings = TrainSettings {
        steps: a.warmup + a.steps,
        batch: a.batch,
        warmup_steps: 0,
        clip_norm: None,
        eval_every: usize::MAX,
        ..TrainSettings::default()
    };
    let mut trainer = Trainer::new(
        &spec.config(),
        Objective::forward_kl(2, data, 0.1),
        settings,
        device,
    )
    .and_then(|t| t.with_cpu_threads(threads))
    .map_err(|e| e.to_string())?;
    let mut steps = |n: usize| {
        pollster::block_on(async {
            for _ in 0..n {
                trainer.train_step().await?;
            }
            Ok::<_, crate::train::TrainError>(())
        })
        .map_err(|e| e.to_string())
    };
    steps(a.warmup)?;
    let t = Instant::now();
    steps(a.steps)?;
    Ok((a.steps as f64 / t.elapsed().as_secs_f64(), trainer))
}
