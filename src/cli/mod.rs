//! The native command line (`flowplay`): one file per command.

pub mod anomaly;
pub mod bench;
pub mod bench_image;
pub mod calibrate;
pub mod choices;
pub mod csv_rows;
pub mod data;
pub mod eval;
pub mod fit;
pub mod fit2d;
pub mod fit_loop;
pub mod fit_posterior;
pub mod image_io;
pub mod interpolate;
pub mod io;
pub mod models;
pub mod plot;
pub mod png;
pub mod reproduce;
pub mod sample_posterior;
pub mod stop;
pub mod timescaling;
pub mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Normalizing flows you can train in a browser tab or natively.
#[derive(Parser, Debug)]
#[command(name = "flowplay", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a flow on your own samples: a CSV of any dimension (corner plot of flow vs data).
    Fit(fit::FitArgs),
    /// Encode rows on stdin to the flow's Gaussian latent: `z = f(x)` per line.
    TransformToNoise(io::TransformArgs),
    /// Train a 2D flow on a target (forward KL on sample sets, reverse KL on energies).
    Fit2d(fit2d::Fit2dArgs),
    /// Read rows on stdin, write log q(x) per line.
    LogProb(io::LogProbArgs),
    /// Draw samples: `x,y,...,log_q` rows, or an image grid (`--out grid.png`) for image models.
    Sample(io::SampleArgs),
    /// Draw the density heatmap with samples (and the loss history) to PNG or SVG.
    Plot(plot::PlotArgs),
    /// Print speed figures (training steps/s, grid log-density throughput); `bench
    /// timescaling` reproduces SNF's time-vs-dimension figure.
    Bench(bench::BenchArgs),
    /// Fetch and inspect image data sets (MNIST, Fashion-MNIST) offline.
    Data(data::DataArgs),
    /// Train an image flow from a named preset (SNF experiments and small CPU ones).
    Train(Box<train::TrainArgs>),
    /// Exact test bits/dim and nats of an image model.
    Eval(eval::EvalArgs),
    /// Check a saved amortised posterior: simulation-based calibration, coverage, and (on the
    /// linear-Gaussian problem) its error as the observation leaves the prior predictive.
    Calibrate(calibrate::CalibrateArgs),
    /// Out-of-distribution detection with an image model: AUROC of the raw and the
    /// complexity-corrected likelihood score.
    Anomaly(anomaly::AnomalyArgs),
    /// Straight and spherical latent interpolation between two images, as a PNG.
    Interpolate(interpolate::InterpolateArgs),
    /// The page's model gallery: `models index DIR` writes DIR/index.json.
    Models(models::ModelsArgs),
    /// Learn the posterior p(θ | y) of an inverse problem (linear-gaussian, arm, ring) with a
    /// conditional flow or an INN; the last stdout line is JSON with its figures against the
    /// reference posterior.
    FitPosterior(fit_posterior::FitPosteriorArgs),
    /// Re-run a published result (rezende2015, gallery2d, mbank, snf-table1): figures and a table in the
    /// output folder, a JSON summary as the last stdout line; `--quick` for minutes on 2 cores.
    Reproduce(reproduce::ReproduceArgs),
}

/// How a command that can be stopped ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Stopped by Ctrl-C after saving what it had (exit code 130, as a shell reports SIGINT).
    Interrupted,
}

/// Runs the CLI; errors are printed as `error: …` with exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `bench image-step` times image steps: it sets its own pool (one per thread count).
    let image_bench = matches!(
        &cli.command,
        Command::Bench(b) if matches!(b.other, Some(bench::BenchCommand::ImageStep(_)))
    );
    if !image_bench
        && matches!(
            cli.command,
            Command::Fit2d(_)
                | Command::Fit(_)
                | Command::Bench(_)
                | Command::FitPosterior(_)
                | Command::Calibrate(_)
                | Command::Reproduce(_)
        )
    {
        one_backend_thread();
    }
    let done = |r: Result<(), String>| r.map(|()| Outcome::Done);
    let result = match cli.command {
        Command::Fit(a) => fit::run(a),
        Command::TransformToNoise(a) => done(io::transform_to_noise(a)),
        Command::Fit2d(a) => fit2d::run(a),
        Command::LogProb(a) => done(io::log_prob(a)),
        Command::Sample(a) => done(io::sample(a)),
        Command::Plot(a) => done(plot::run(a)),
        Command::Bench(a) => done(bench::run(a)),
        Command::Data(a) => done(data::run(a)),
        Command::Train(a) => train::run(*a),
        Command::Eval(a) => done(eval::run(a)),
        Command::Calibrate(a) => done(calibrate::run(a)),
        Command::Anomaly(a) => done(anomaly::run(a)),
        Command::Interpolate(a) => done(interpolate::run(a)),
        Command::Models(a) => done(models::run(a)),
        Command::FitPosterior(a) => done(fit_posterior::run(a)),
        Command::Reproduce(a) => done(reproduce::run(a)),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Small (2D) models: the CPU backend's own threads split single matmuls, and at width 128
/// that costs more than it saves (`flowplay bench`: 56 steps/s on one thread, 37 on two;
/// docs/performance.md). The 2D commands give the backend one thread and use the cores through
/// data-parallel replicas (`--threads`). Image commands keep the backend's threads: their
/// convolutions are large enough to split. Called before any backend work.
fn one_backend_thread() {
    // Fails only when the pool already exists (a second call): nothing to do then.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
}

/// Registers the bundled DejaVu Sans as plotters' "sans-serif" (native text rendering).
pub fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../www/fonts/DejaVuSans.ttf");
        let _ =
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes);
    });
}
