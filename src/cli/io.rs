//! `flowplay log-prob`, `flowplay sample` and `flowplay transform-to-noise`: plain-text rows in
//! and out.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use crate::evaluate::log_prob_rows_blocking;
use crate::model_file;
use crate::readback::to_host;
use crate::rng::Rng;

#[derive(Args, Debug)]
pub struct LogProbArgs {
    /// The `.flow` model file.
    #[arg(long)]
    pub model: PathBuf,
    /// For a conditional model: the context `c1,c2,…` every row is scored under (`log q(x | c)`;
    /// for an amortised posterior, the observation `y`).
    #[arg(long, allow_hyphen_values = true)]
    pub context: Option<String>,
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// The `.flow` model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub n: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a header line (`x,y,log_q` for 2D, `x0,…,log_q` otherwise; a posterior's
    /// parameter names). An INN's `log_q` column is `NaN` (it has no tractable density).
    #[arg(long)]
    pub header: bool,
    /// Write the samples as an image grid (PNG) instead of rows (image models only).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Scale the base noise by this factor (Glow's temperature; 1 = the model's density).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// cpu, wgpu[:N] (feature `wgpu`) or cuda[:N] (feature `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::BackendChoice,
    /// For a conditional model (an amortised posterior): the observation `y1,y2,…` to draw
    /// `θ ~ q(θ | y)` for.
    #[arg(long, allow_hyphen_values = true)]
    pub context: Option<String>,
    /// For a class-conditional image model: draw every image of this class (without it, the
    /// grid has a row of 8 per class, 0, 1, 2, …).
    #[arg(long)]
    pub class: Option<usize>,
    /// For a posterior of a known problem (conditional flow): correct the draws by importance
    /// weights against the prior and the likelihood, and print the effective sample size.
    #[arg(long)]
    pub reweight: bool,
    /// With --reweight: how many proposals are weighted (default: the larger of 4·n and
    /// 10 000; up to 16× as many follow while the effective sample size is below 100).
    #[arg(long)]
    pub proposals: Option<usize>,
}

/// Parses rows of `dim` numbers separated by commas and/or whitespace; blank lines and lines
/// starting with `#` are skipped. Errors name the line.
pub fn parse_rows(input: impl BufRead, dim: usize) -> Result<Vec<f32>, String> {
    let mut rows = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let values: Result<Vec<f32>, _> = t
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::parse::<f32>)
            .collect();
        let values = values.map_err(|e| format!("line {}: '{t}' is not numbers ({e})", i + 1))?;
        if values.len() != dim {
            return Err(format!(
                "line {}: expected {dim} columns (the model's dimension), found {}",
                i + 1,
                values.len()
            ));
        }
        rows.extend(values);
    }
    Ok(rows)
}

pub fn log_prob(a: LogProbArgs) -> Result<(), String> {
    let device = crate::device::cpu();
    let (flow, meta) = model_file::load(&a.model, &device).map_err(|e| e.to_string())?;
    if meta
        .posterior
        .as_ref()
        .is_some_and(|p| p.method == crate::inverse::Method::Inn)
    {
        return Err(format!(
            "{} is an INN posterior, which has no tractable log q(θ | y); `sample --context` draws from it",
            a.model.display()
        ));
    }
    let context = parse_context(a.context.as_deref(), flow.context(), &a.model)?;
    let dim = flow.dim();
    let rows = parse_rows(std::io::stdin().lock(), dim)?;
    let lp = match context {
        None => log_prob_rows_blocking(&flow, &rows, dim, &device)?,
        Some(c) => {
            let n = rows.len() / dim.max(1);
            let x = burn::tensor::Tensor::<2>::from_data(
                burn::tensor::TensorData::new(rows, [n, dim]),
                &device,
            );
            let c = crate::flows::each_row_n_times(&c, c.len(), n, &device);
            to_host(flow.log_prob_given(x, Some(&c)))?
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for v in lp {
        writeln!(out, "{v}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

pub fn sample(a: SampleArgs) -> Result<(), String> {
    let device = crate::device::inference_device(a.device)?;
    let (flow, meta) = model_file::load(&a.model, &device).map_err(|e| e.to_string())?;
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        return Err(format!(
            "--temperature must be positive, got {}",
            a.temperature
        ));
    }
    if let Some(out) = &a.out {
        return sample_grid(&a, out, &flow, &meta, &device);
    }
    let context = conditioning(&a, &flow, &meta)?;
    let posterior = meta.posterior.as_ref();
    let dim = posterior.map_or(flow.dim(), |p| p.problem.theta_dim());
    let mut rng = Rng::new(a.seed);
    let mut out = BufWriter::new(std::io::stdout().lock());
    if a.header {
        let names: Vec<String> = if let Some(p) = posterior {
            p.problem
                .theta_names()
                .into_iter()
                .map(String::from)
                .collect()
        } else if dim == 2 {
            vec!["x".into(), "y".into()]
        } else {
            (0..dim).map(|j| format!("x{j}")).collect()
        };
        writeln!(out, "{},log_q", names.join(",")).map_err(|e| e.to_string())?;
    }
    if let (Some(y), Some(p)) = (&context, posterior) {
        let noise = meta.posterior_noise().unwrap_or(p.problem.noise_std());
        let request = super::sample_posterior::DrawRequest {
            n: a.n,
            seed: a.seed,
            reweight: a.reweight,
            proposals: a.proposals,
        };
        return super::sample_posterior::write_draws(request, &flow, p, noise, y, out, &device);
    }
    if a.reweight {
        return Err(format!(
            "{} is not a posterior of a known problem: --reweight weights by its likelihood",
            a.model.display()
        ));
    }
    let mut left = a.n;
    while left > 0 {
        let m = left.min(crate::evaluate::CHUNK);
        let (x, lq): (Vec<f32>, Vec<f32>) = match &context {
            Some(c) => {
                let (x, log_q) = flow.sample_given(m, c, &mut rng, &device);
                (to_host(x)?, to_host(log_q)?)
            }
            None => {
                let (x, log_q) = flow.sample_at_temperature(m, a.temperature, &mut rng, &device);
                (to_host(x)?, to_host(log_q)?)
            }
        };
        for (row, l) in x.chunks(dim).zip(lq) {
            let cols: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            writeln!(out, "{},{l}", cols.join(",")).map_err(|e| e.to_string())?;
        }
        left -= m;
    }
    out.flush().map_err(|e| e.to_string())
}

/// `sample --out grid.png`: `-n` images of an image model (of `--class` for a class-conditional
/// one) drawn in batches and written as one PNG grid.
fn sample_grid(
    a: &SampleArgs,
    out: &std::path::Path,
    flow: &crate::flows::Flow,
    meta: &model_file::FlowMeta,
    device: &burn::tensor::Device,
) -> Result<(), String> {
    let image = meta.image.as_ref().ok_or_else(|| {
        format!(
            "{} is not an image model (no image shape in its metadata): --out draws image grids; \
             leave it out to print rows",
            a.model.display()
        )
    })?;
    let max = super::image_io::MAX_GRID_IMAGES;
    if a.n == 0 || a.n > max {
        return Err(format!("-n {}: a grid holds 1 to {max} images", a.n));
    }
    let labels = match a.class {
        None => None,
        Some(class) => {
            let k = flow.config().classes().ok_or_else(|| {
                format!(
                    "{} is not class-conditional: leave out --class",
                    a.model.display()
                )
            })?;
            if class >= k {
                return Err(format!(
                    "--class {class}: the model has classes 0 to {}",
                    k - 1
                ));
            }
            Some(vec![class as u8; a.n])
        }
    };
    let images = super::image_io::sample_images(
        flow,
        a.n,
        a.temperature,
        labels.as_deref(),
        a.seed,
        device,
    )?;
    super::image_io::write_grid_png(out, &images, image.shape, 8)?;
    eprintln!("wrote {} samples to {}", a.n, out.display());
    Ok(())
}

/// The context `--context` gives, checked against what the model reads: `None` for an
/// unconditional model, the observation for a posterior or any conditional flow.
fn conditioning(
    a: &SampleArgs,
    flow: &crate::flows::Flow,
    meta: &model_file::FlowMeta,
) -> Result<Option<Vec<f32>>, String> {
    let wanted = match &meta.posterior {
        Some(p) => p.problem.obs_dim(),
        None => flow.context(),
    };
    parse_context(a.context.as_deref(), wanted, &a.model)
}

/// `--context c1,c2,…` checked against the `wanted` size: `None` when the model is
/// unconditional and none was given; an error naming the problem otherwise.
fn parse_context(
    text: Option<&str>,
    wanted: usize,
    model: &std::path::Path,
) -> Result<Option<Vec<f32>>, String> {
    let Some(text) = text else {
        if wanted > 0 {
            return Err(format!(
                "{} is conditional on a context of {wanted} numbers: pass --context y1,…",
                model.display()
            ));
        }
        return Ok(None);
    };
    if wanted == 0 {
        return Err(format!(
            "{} is not a conditional model: leave out --context",
            model.display()
        ));
    }
    let values: Vec<f32> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("--context: '{}' is not a finite number", s.trim()))
        })
        .collect::<Result<_, _>>()?;
    if values.len() != wanted {
        return Err(format!(
            "--context has {} numbers but {} reads {wanted}",
            values.len(),
            model.display()
        ));
    }
    Ok(Some(values))
}

#[derive(Args, Debug)]
pub struct TransformArgs {
    /// The `.flow` model file.
    #[arg(long)]
    pub model: PathBuf,
    /// For a conditional model: the context `c1,c2,…` every row is encoded under.
    #[arg(long, allow_hyphen_values = true)]
    pub context: Option<String>,
    /// Append `log|det ∂z/∂x|` to each row (then `log q(x) = log N(z) + log|det|`).
    #[arg(long)]
    pub log_det: bool,
}

/// `flowplay transform-to-noise`: each row `x` on stdin becomes `z = f(x)`, the point in the
/// flow's Gaussian base space (nflows' `transform_to_noise`), comma-separated.
pub fn transform_to_noise(a: TransformArgs) -> Result<(), String> {
    let device = crate::device::cpu();
    let (flow, _) = model_file::load(&a.model, &device).map_err(|e| e.to_string())?;
    let context = parse_context(a.context.as_deref(), flow.context(), &a.model)?;
    let dim = flow.dim();
    let rows = parse_rows(std::io::stdin().lock(), dim)?;
    if let Some(k) = rows.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "row {}: {} is not a finite number",
            k / dim + 1,
            rows[k]
        ));
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for chunk in rows.chunks(crate::evaluate::CHUNK * dim) {
        let n = chunk.len() / dim;
        let x = burn::tensor::Tensor::<2>::from_data(
            burn::tensor::TensorData::new(chunk.to_vec(), [n, dim]),
            &device,
        );
        let c = context
            .as_ref()
            .map(|c| crate::flows::each_row_n_times(c, c.len(), n, &device));
        let (z, ld) = flow.transform_to_noise_given(x, c.as_ref());
        let (z, ld): (Vec<f32>, Vec<f32>) = (to_host(z)?, to_host(ld)?);
        for (row, ld) in z.chunks(dim).zip(ld) {
            let mut line: Vec<String> = row.iter().map(f32::to_string).collect();
            if a.log_det {
                line.push(ld.to_string());
            }
            writeln!(out, "{}", line.join(",")).map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())
}
