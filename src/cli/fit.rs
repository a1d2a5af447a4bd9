//! `flowplay fit --csv FILE`: train a flow on your own samples, a CSV of any dimension D ≥ 1
//! ([`super::csv_rows`]), and save it as a `.flow` file, with a corner plot of the flow against
//! the data (`--plot`, default `<out>.corner.png`). With `--objective regression` the last
//! column is a known `log p` to regress `log q` onto (mbank's objective). The rows are shuffled
//! (seeded) before the validation split, so a sorted file is split fairly. Ctrl-C saves the
//! best model so far. Progress on stderr; the last stdout line is one JSON summary.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::Outcome;
use super::csv_rows::{Table, read_table};
use super::fit_loop::{save_fit, train_keeping_best};
use super::fit2d::FitObjective;
use crate::flows::{FlowKind, FlowSpec};
use crate::model_file::{self, FlowMeta};
use crate::plot::corner::{Corner, corner_size, draw_corner};
use crate::rng::Rng;
use crate::train::gaussian_baseline::GaussianFit;
use crate::train::target_problem::with_data_box;
use crate::train::{Objective, TrainSettings, Trainer};

#[derive(Args, Debug)]
pub struct FitArgs {
    /// The samples: one row per line, D numbers separated by commas, semicolons or spaces, and
    /// an optional header line of column names.
    #[arg(long)]
    pub csv: PathBuf,
    /// Flow family.
    #[arg(long, value_enum, default_value_t = FlowKind::Maf)]
    pub flow: FlowKind,
    /// Number of flow layers (default: the family's, as in `fit2d`).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Hidden width of the conditioner networks.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Spline bins (nsf, nsf-ar).
    #[arg(long, default_value_t = 8)]
    pub bins: usize,
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of the rows held out for validation (the saved model is the best on them).
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Evaluate every this many steps.
    #[arg(long, default_value_t = 100)]
    pub eval_every: usize,
    /// `kl`: maximum likelihood on the rows; `regression`: the last column is `log p`;
    /// `flow-matching`: a `--flow cnf` trained by conditional flow matching.
    #[arg(long, value_enum, default_value_t = FitObjective::Kl)]
    pub objective: FitObjective,
    #[arg(long, default_value = "model.flow")]
    pub out: PathBuf,
    /// Corner plot of flow samples against the data (PNG; default `<out>.corner.png`).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// CPU threads (data-parallel replicas; default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub quiet: bool,
}

/// The rows the flow models (and their log p for regression), shuffled.
struct Data {
    names: Vec<String>,
    rows: Vec<f32>,
    log_p: Option<Vec<f32>>,
}

fn split_columns(table: Table, a: &FitArgs) -> Result<Data, String> {
    let width = table.dim();
    let regression = a.objective == FitObjective::Regression;
    let dim = width - usize::from(regression);
    if dim == 0 {
        return Err(format!(
            "{}: regression needs at least two columns (the point, then its log p)",
            a.csv.display()
        ));
    }
    let n = table.len();
    let order = Rng::new(a.seed ^ 0x5E1F).permutation(n);
    let mut rows = Vec::with_capacity(n * dim);
    let mut log_p = Vec::with_capacity(n);
    for i in order {
        let r = &table.rows[i * width..(i + 1) * width];
        rows.extend_from_slice(&r[..dim]);
        if regression {
            log_p.push(r[dim]);
        }
    }
    Ok(Data {
        names: table.names[..dim].to_vec(),
        rows,
        log_p: regression.then_some(log_p),
    })
}

fn check(a: &FitArgs, n: usize) -> Result<(), String> {
    if a.steps == 0 || a.batch == 0 || a.hidden == 0 || a.layers == Some(0) {
        return Err("--steps, --batch, --hidden and --layers must be positive".into());
    }
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err(format!("--lr must be a positive number, got {}", a.lr));
    }
    if !(a.val_fraction > 0.0 && a.val_fraction < 1.0) {
        return Err(format!(
            "--val-fraction must lie in (0, 1), got {}",
            a.val_fraction
        ));
    }
    if n < 10 {
        return Err(format!(
            "{}: {n} rows; a flow needs at least 10 to train and validate on",
            a.csv.display()
        ));
    }
    Ok(())
}

/// `--objective` as the library names it (`fit` pairs flow-matching draws independently).
fn fit_by(a: &FitArgs) -> crate::train::FitBy {
    a.objective
        .fit_by(crate::train::flow_matching::Pairing::Independent)
}

/// The flow's spec and the objective the arguments ask for on `data`.
fn problem(a: &FitArgs, data: &Data, dim: usize) -> (FlowSpec, Objective) {
    let mut spec = FlowSpec::new(a.flow, dim).with_hidden(a.hidden);
    spec.bins = a.bins;
    if let Some(k) = a.layers {
        spec = spec.with_layers(k);
    }
    let objective = match &data.log_p {
        None => Objective::on_samples(dim, data.rows.clone(), a.val_fraction, fit_by(a).pairing()),
        Some(lp) => Objective::Regression {
            dim,
            points: data.rows.clone(),
            log_density: lp.clone(),
        },
    };
    // mbank's box around the rows it is fitted to (not the validation split).
    let spec = with_data_box(spec, objective.fitted_rows());
    (spec, objective)
}

pub fn run(a: FitArgs) -> Result<Outcome, String> {
    let table = read_table(&a.csv)?;
    check(&a, table.len())?;
    let data = split_columns(table, &a)?;
    let dim = data.names.len();
    let (spec, objective) = problem(&a, &data, dim);
    let settings = TrainSettings {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        eval_every: a.eval_every.max(1),
        ..TrainSettings::default()
    };
    // The training rows' full-covariance Gaussian: the baseline the summary reports, and where
    // the flow starts (a likelihood fit whose first layers can whiten; mbank's box cannot).
    let gaussian = GaussianFit::fit(objective.fitted_rows(), dim)?;
    let gaussian_val_nll = objective
        .validation_rows()
        .map(|(v, _)| gaussian.mean_nll(v));
    let whiten = data.log_p.is_none() && a.flow != crate::flows::FlowKind::Mbank;
    let mut spec = spec;
    spec.whiten = whiten;
    let config = spec.config();
    let cpu = crate::device::cpu();
    let threads = a.threads.unwrap_or_else(crate::device::available_threads);
    let trainer = if whiten {
        let flow = whitened_start(&config, &objective, a.seed, &cpu)?;
        Trainer::with_flow(flow, objective, settings, &cpu)
    } else {
        Trainer::new(&config, objective, settings, &cpu)
    };
    let mut trainer = trainer
        .and_then(|t| t.with_cpu_threads(threads))
        .map_err(|e| e.to_string())?;
    let params = model_file::num_params(&trainer.model);
    if !a.quiet {
        eprintln!(
            "fit: {} on {} ({} rows × {dim} columns; {} layers, {params} parameters), {} steps of batch {}",
            a.flow,
            a.csv.display(),
            data.rows.len() / dim,
            spec.layers,
            a.steps,
            a.batch
        );
    }
    let start = Instant::now();
    let finished = train_keeping_best(&mut trainer, a.quiet);
    let mut summary = json!({
        "csv": a.csv.display().to_string(),
        "rows": data.rows.len() / dim,
        "dim": dim,
        "columns": data.names,
        "flow": a.flow.name(),
        "objective": fit_by(&a).name(),
        "layers": spec.layers,
        "params": params,
        "steps": trainer.step,
        "seconds": start.elapsed().as_secs_f64(),
        "train_loss": trainer.history.last().and_then(|p| p.train_loss),
        "val_nll": finished.best.as_ref().map(|b| b.0),
        "initial_val_nll": trainer.history.first_val_nll(),
        "gaussian_val_nll": gaussian_val_nll,
        "starts_from_gaussian": whiten,
        "nan_events": trainer.history.nan_events.len(),
    });
    let (model, _) = finished.chosen(&trainer);
    let plot = a
        .plot
        .clone()
        .unwrap_or_else(|| a.out.with_extension("corner.png"));
    summary["marginal_tv"] = json!(corner_plot(
        &plot,
        &model,
        &data,
        a.seed,
        caption(&summary)
    )?);
    summary["plot"] = json!(plot.display().to_string());
    let mut meta = FlowMeta::new(config);
    meta.spec = Some(spec);
    save_fit(&a.out, &trainer, finished, meta, summary, a.quiet)
}

/// The corner plot's caption: the flow's and the Gaussian's validation NLL.
fn caption(summary: &serde_json::Value) -> Option<String> {
    match (
        summary["val_nll"].as_f64(),
        summary["gaussian_val_nll"].as_f64(),
    ) {
        (Some(flow), Some(gauss)) => Some(format!(
            "validation NLL (nats per row): flow {flow:.3} · full-covariance Gaussian {gauss:.3}"
        )),
        _ => None,
    }
}

/// The flow of `config` as the training rows' Gaussian: its ActNorm standardises them (as
/// training's data-dependent initialisation does, [`Trainer::initial_model`]), the LU layer after
/// it whitens what comes out ([`GaussianFit::whitening`]), and every later layer starts at the
/// identity, so `log q` at step 0 is the Gaussian's `log N(x; μ, Σ)`.
fn whitened_start(
    config: &crate::flows::FlowConfig,
    objective: &Objective,
    seed: u64,
    device: &burn::tensor::Device,
) -> Result<crate::flows::Flow, String> {
    use crate::flows::Layer;
    use crate::flows::linear::LuLinear;
    let mut flow = Trainer::initial_model(config, objective, seed, device);
    let (Some(Layer::ActNorm(norm)), Some(Layer::LuLinear(_))) =
        (flow.layers.first(), flow.layers.get(1))
    else {
        return Err("internal: a whitened flow starts with an ActNorm and an LU layer".into());
    };
    let bias: Vec<f32> = crate::readback::to_host(norm.bias.val())?;
    let scale: Vec<f32> = crate::readback::to_host(norm.log_scale.val().exp())?;
    let dim = bias.len();
    let standardised: Vec<f32> = objective
        .fitted_rows()
        .chunks(dim)
        .flat_map(|r| {
            (0..dim)
                .map(|j| (r[j] + bias[j]) * scale[j])
                .collect::<Vec<_>>()
        })
        .collect();
    let (upper, shift) = GaussianFit::fit(&standardised, dim)?.whitening();
    flow.layers[1] = Layer::LuLinear(LuLinear::from_upper(&upper, &shift, device)?);
    Ok(flow)
}

/// Draws the corner plot of up to 20 000 flow samples against up to 20 000 data rows, and
/// returns each marginal's total-variation distance (40-bin histograms).
fn corner_plot(
    path: &std::path::Path,
    model: &crate::flows::Flow,
    data: &Data,
    seed: u64,
    caption: Option<String>,
) -> Result<Vec<f64>, String> {
    super::register_fonts();
    let dim = data.names.len();
    let n = (data.rows.len() / dim).min(20_000);
    let (x, _) = model.sample(n, &mut Rng::new(seed ^ 0xC0), &crate::device::cpu());
    let samples: Vec<f32> = crate::readback::to_host(x)?;
    let corner = Corner {
        dim,
        data: &data.rows[..n * dim],
        samples: &samples,
        labels: &data.names,
        bins: 40,
        caption,
    };
    let tv = corner.marginal_tv();
    let side = if dim > 4 { 160 } else { 260 };
    super::png::write_png(path, corner_size(dim, side), |root| {
        draw_corner(root, &corner).map_err(String::from)
    })?;
    Ok(tv)
}
