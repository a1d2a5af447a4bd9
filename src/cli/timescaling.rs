//! `flowplay bench timescaling` (also `flowplay train --preset snf_timescaling`): the SNF
//! timescaling figure (Keller et al. 2021, arXiv:2011.07248, Fig. 4): time per training step
//! versus dimension `D` for one fully connected and one 3×3 convolutional layer, trained with
//! the exact log-det gradient (`O(D³)`: an LU of the dense `D×D` matrix) versus the
//! self-normalized gradient (`O(D²)` FC, `O(D)` conv). Each measurement is the median of a few
//! steps (forward, backward, Adam) on a batch of 100 standard-normal rows, after one warm-up
//! step. Prints a table, draws `timescaling.png`, and ends with a JSON line holding the
//! exact/self-normalized time ratio at each `D`.

use std::path::PathBuf;
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use plotters::prelude::*;

use crate::flows::image::ImageShape;
use crate::flows::selfnorm::{SelfNormConvConfig, SelfNormLinearConfig};
use crate::flows::{BaseConfig, FlowConfig, LayerConfig};

#[derive(Args, Debug, Clone)]
pub struct TimescalingArgs {
    /// Only D = 100, 400, 784 (seconds on 2 CPU cores; the full sweep to D = 2304 takes ≈2 min).
    #[arg(long)]
    pub quick: bool,
    /// Directory for `timescaling.png` (default: the current directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Median seconds per training step of a one-layer flow.
fn time_layer(layer: LayerConfig, dim: usize, steps: usize) -> f64 {
    let device = crate::device::cpu().autodiff();
    let config = FlowConfig {
        layers: vec![layer],
        base: BaseConfig::StandardNormal { dim },
        embedding: None,
        head: None,
    };
    let mut flow = config.init(&device);
    let mut optim = AdamConfig::new().init();
    let mut times = Vec::with_capacity(steps);
    for i in 0..=steps {
        let x = Tensor::<2>::random([100, dim], Distribution::Normal(0.0, 1.0), &device);
        let t0 = Instant::now();
        let (lp, recon) = flow.log_prob_train(x);
        let mut loss = lp.mean().neg();
        if let Some(r) = recon {
            loss = loss + r.mean();
        }
        let _: f32 = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &flow);
        // flex is eager: the update is done when `step` returns.
        flow = optim.step(1e-4, flow, grads);
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

pub fn run(args: TimescalingArgs) -> Result<(), String> {
    let sides: Vec<usize> = if args.quick {
        vec![10, 20, 28]
    } else {
        vec![4, 8, 12, 16, 20, 24, 28, 32, 40, 48]
    };
    let steps = if args.quick { 3 } else { 5 };
    crate::device::cpu().seed(args.seed);
    println!(
        "{:>6} {:>14} {:>14} {:>8} {:>14} {:>14} {:>8}",
        "D", "FC exact ms", "FC selfnorm ms", "ratio", "conv exact ms", "conv selfn. ms", "ratio"
    );
    let mut rows = Vec::new();
    for side in sides {
        let d = side * side;
        let shape = ImageShape::new(1, side, side);
        let fc = |sn: bool| {
            LayerConfig::SelfNormLinear(SelfNormLinearConfig::new(d).with_self_normalized(sn))
        };
        let conv = |sn: bool| {
            LayerConfig::SelfNormConv(SelfNormConvConfig::new(shape).with_self_normalized(sn))
        };
        let t = [
            time_layer(fc(false), d, steps),
            time_layer(fc(true), d, steps),
            time_layer(conv(false), d, steps),
            time_layer(conv(true), d, steps),
        ];
        println!(
            "{:>6} {:>14.2} {:>14.2} {:>8.1} {:>14.2} {:>14.2} {:>8.1}",
            d,
            t[0] * 1e3,
            t[1] * 1e3,
            t[0] / t[1],
            t[2] * 1e3,
            t[3] * 1e3,
            t[2] / t[3]
        );
        rows.push((d, t));
    }
    let dir = args.out.unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let png = dir.join("timescaling.png");
    let pending = crate::atomic_file::PendingFile::new(&png);
    draw(pending.path(), &rows)?;
    pending
        .commit()
        .map_err(|e| format!("writing {}: {e}", png.display()))?;
    eprintln!("figure: {}", png.display());
    let json = serde_json::json!({
        "dims": rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "fc_exact_ms": rows.iter().map(|r| r.1[0] * 1e3).collect::<Vec<_>>(),
        "fc_selfnorm_ms": rows.iter().map(|r| r.1[1] * 1e3).collect::<Vec<_>>(),
        "conv_exact_ms": rows.iter().map(|r| r.1[2] * 1e3).collect::<Vec<_>>(),
        "conv_selfnorm_ms": rows.iter().map(|r| r.1[3] * 1e3).collect::<Vec<_>>(),
        "fc_ratio": rows.iter().map(|r| r.1[0] / r.1[1]).collect::<Vec<_>>(),
        "conv_ratio": rows.iter().map(|r| r.1[2] / r.1[3]).collect::<Vec<_>>(),
        "figure": png.display().to_string(),
    });
    println!("{json}");
    Ok(())
}

fn draw(path: &std::path::Path, rows: &[(usize, [f64; 4])]) -> Result<(), String> {
    super::register_fonts();
    let root = BitMapBackend::new(path, (800, 520)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("drawing {}: {e:?}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let max_d = rows.iter().map(|r| r.0).max().unwrap_or(1) as f64;
    let all: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.1.iter().map(|t| t * 1e3))
        .collect();
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min).max(1e-3) * 0.7;
    let hi = all.iter().cloned().fold(0.0, f64::max) * 1.4;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Time per training step vs dimension (SNF timescaling)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_d * 1.05, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("dimension D")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("ms per step (batch 100)")
        .draw()
        .map_err(err)?;
    let series: [(&str, RGBColor, usize); 4] = [
        ("FC exact", RGBColor(200, 40, 40), 0),
        ("FC self-normalized", RGBColor(40, 90, 200), 1),
        ("conv exact", RGBColor(230, 140, 20), 2),
        ("conv self-normalized", RGBColor(30, 160, 90), 3),
    ];
    for (name, color, k) in series {
        let pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.0 as f64, r.1[k] * 1e3)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
