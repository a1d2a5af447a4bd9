//! `flowplay bench image-step`: the time of one training step of an image preset on a device,
//! the twin of `benches/pytorch_glow.py` (same layers, same batch): the first step (on a GPU:
//! shader compilation and autotuning), then the mean of the timed steps after warm-up, and the
//! device reads per step (values brought back to the host: the loss, and the reconstruction or
//! label loss where the model has one). Kernel launches are counted from CubeCL's own log by
//! `benches/kernel-launches.sh`. Printed as JSON lines, never asserted.
//!
//! On the CPU it times each thread count of `--threads` (default 1 and every core) in its own
//! process (the backend's thread pool is set once per process), and beside each the PyTorch twin
//! on as many threads (`--python`, where PyTorch is installed), then prints the ratio of their
//! steps per second: above 1, flowplay is faster.

use std::process::Command;
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
    /// CPU thread counts to time, each in its own process (default: 1 and every core).
    #[arg(long, value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// The Python interpreter that runs the PyTorch twin (default: $PYTHON, else python3).
    #[arg(long)]
    pub python: Option<String>,
    /// The PyTorch twin's script.
    #[arg(long, default_value = "benches/pytorch_glow.py")]
    pub twin: String,
    /// Do not run the PyTorch twin.
    #[arg(long)]
    pub no_peer: bool,
    /// Also time each thread count once with the fused CPU operations off (Burn's own
    /// operations).
    #[arg(long)]
    pub unfused: bool,
    /// Rounds of flowplay then PyTorch per thread count (the ratio of each, and the medians).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Time this process once, on the pool it has (what the CPU comparison runs per thread
    /// count).
    #[arg(long, hide = true)]
    pub single: bool,
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
    if a.single || !matches!(a.device, BackendChoice::Cpu) {
        if let [n] = a.threads[..] {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build_global()
                .map_err(|e| format!("cannot set {n} threads: {e}"))?;
        }
        return time_steps(&a).map(|line| println!("{line}"));
    }
    compare_threads(&a)
}

/// The preset with the command's overrides.
fn preset(a: &ImageStepArgs) -> Result<presets::Preset, String> {
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
    Ok(p)
}

/// Times the steps in this process: one JSON line.
fn time_steps(a: &ImageStepArgs) -> Result<serde_json::Value, String> {
    let p = preset(a)?;
    crate::fused::set_enabled(!a.unfused);
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
    Ok(json!({
            "bench": format!("flowplay_{}", p.name),
            "device": a.device.to_string(),
            "threads": rayon::current_num_threads(),
            "fused": !a.unfused,
            "params": burn::module::Module::num_params(&trainer.model),
            "batch": batch,
            "steps": a.steps.max(1),
            "first_step_seconds": first,
            "ms_per_step": 1e3 * secs / steps,
            "steps_per_sec": steps / secs,
            "readbacks_per_step": reads,
    }))
}

/// The arguments a child process repeats (everything but the thread list and the peer).
fn child_args(a: &ImageStepArgs, threads: usize, unfused: bool) -> Vec<String> {
    let mut v: Vec<String> = ["bench", "image-step", "--single", "--preset", &a.preset]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(["--steps".into(), a.steps.to_string()]);
    v.extend(["--warmup".into(), a.warmup.to_string()]);
    v.extend(["--threads".into(), threads.to_string()]);
    for (flag, value) in [
        ("--batch", a.batch),
        ("--width", a.width),
        ("--depth", a.depth),
    ] {
        if let Some(v2) = value {
            v.extend([flag.to_string(), v2.to_string()]);
        }
    }
    if unfused {
        v.push("--unfused".into());
    }
    v
}

/// The last line of a command's output that parses as JSON (a message naming the command when
/// there is none).
fn json_line(cmd: &mut Command, what: &str) -> Result<serde_json::Value, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("no output");
            format!("{what}: no result ({}): {last}", out.status)
        })
}

/// The PyTorch twin's arguments for this preset, or why there is none.
fn twin_args(a: &ImageStepArgs, threads: usize) -> Result<Vec<String>, String> {
    use crate::flows::multiscale::Mixer;
    let p = preset(a)?;
    let s = &p.spec;
    let mnist_glow = matches!(p.arch, presets::Arch::Glow)
        && matches!(s.mixer, Mixer::Conv1x1Lu)
        && s.classes == 0
        && s.hybrid.is_none()
        && s.shape == crate::flows::image::ImageShape::new(1, 28, 28);
    if !mnist_glow {
        return Err(format!(
            "{} is not a 28×28 one-channel Glow with LU 1×1 convs: no PyTorch twin",
            p.name
        ));
    }
    let mut v = vec![a.twin.clone(), "--device".into(), "cpu".into()];
    for (flag, value) in [
        ("--threads", threads),
        ("--levels", s.levels),
        ("--depth", s.steps),
        ("--hidden", s.hidden),
        ("--batch", p.train.batch),
        ("--steps", a.steps.max(1)),
        ("--warmup", a.warmup + 1),
    ] {
        v.extend([flag.to_string(), value.to_string()]);
    }
    Ok(v)
}

/// Each thread count in its own process, beside the PyTorch twin on as many threads, the two
/// alternating for `--rounds` rounds (this VM's neighbours move single runs by 10–30 %): each
/// round's ratio, and the medians.
fn compare_threads(a: &ImageStepArgs) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = if a.threads.is_empty() {
        vec![1, cores]
    } else {
        a.threads.clone()
    };
    threads.dedup();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let python = a
        .python
        .clone()
        .or_else(|| std::env::var("PYTHON").ok())
        .unwrap_or_else(|| "python3".into());
    let twin = |n: usize| -> Option<serde_json::Value> {
        if a.no_peer {
            return None;
        }
        let peer = twin_args(a, n).and_then(|args| {
            json_line(
                Command::new(&python).args(&args),
                &format!("PyTorch twin ({python} {})", a.twin),
            )
        });
        match peer {
            Ok(peer) => {
                println!("{peer}");
                Some(peer)
            }
            Err(e) => {
                eprintln!("PyTorch twin skipped: {e}");
                None
            }
        }
    };
    let mut rows = Vec::new();
    for &n in &threads {
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let mut torch = serde_json::Value::Null;
        for round in 0..a.rounds.max(1) {
            let mine = json_line(
                Command::new(&exe).args(child_args(a, n, false)),
                &format!("flowplay on {n} threads"),
            )?;
            println!("{mine}");
            let ms = mine["ms_per_step"].as_f64().unwrap_or(f64::NAN);
            ours.push(ms);
            let mut line = format!(
                "{n} thread(s), round {}: flowplay {ms:.0} ms/step",
                round + 1
            );
            if let Some(peer) = twin(n) {
                let pms = peer["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                torch = peer["torch"].clone();
                theirs.push(pms);
                ratios.push(pms / ms);
                line += &format!(", PyTorch {pms:.0} ms/step: {:.2}× its speed", pms / ms);
            }
            eprintln!("{line}");
        }
        let mut row = json!({
            "threads": n,
            "flowplay_ms_per_step": ours,
            "flowplay_median_ms": median(&ours),
        });
        if !ratios.is_empty() {
            row["pytorch"] = torch;
            row["pytorch_ms_per_step"] = json!(theirs);
            row["pytorch_median_ms"] = json!(median(&theirs));
            row["speed_vs_pytorch"] = json!(ratios);
            row["median_speed_vs_pytorch"] = json!(median(&ratios));
        }
        if a.unfused {
            let un = json_line(
                Command::new(&exe).args(child_args(a, n, true)),
                &format!("flowplay unfused on {n} threads"),
            )?;
            println!("{un}");
            row["unfused_ms_per_step"] = un["ms_per_step"].clone();
        }
        rows.push(row);
    }
    println!(
        "{}",
        json!({"bench": "image_step_vs_pytorch", "preset": a.preset, "rows": rows})
    );
    Ok(())
}

/// The median of a few timings (the upper one of an even count).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
