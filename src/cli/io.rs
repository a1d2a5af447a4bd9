//! `flowplay log-prob` and `flowplay sample`: plain-text rows in and out.

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
    /// Print a header line (`x,y,log_q` for 2D, `x0,…,log_q` otherwise).
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
    let (flow, _) = model_file::load(&a.model, &device).map_err(|e| e.to_string())?;
    let dim = flow.dim();
    let rows = parse_rows(std::io::stdin().lock(), dim)?;
    let lp = log_prob_rows_blocking(&flow, &rows, dim, &device)?;
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
        let image = meta.image.ok_or_else(|| {
            format!(
                "{} is not an image model (no image shape in its metadata): --out draws image grids; \
                 leave it out to print rows",
                a.model.display()
            )
        })?;
        let images = super::image_io::sample_images(&flow, a.n, a.temperature, a.seed, &device)?;
        super::image_io::write_grid_png(out, &images, image.shape, 8)?;
        eprintln!("wrote {} samples to {}", a.n, out.display());
        return Ok(());
    }
    let dim = flow.dim();
    let mut rng = Rng::new(a.seed);
    let mut out = BufWriter::new(std::io::stdout().lock());
    if a.header {
        let names: Vec<String> = if dim == 2 {
            vec!["x".into(), "y".into()]
        } else {
            (0..dim).map(|j| format!("x{j}")).collect()
        };
        writeln!(out, "{},log_q", names.join(",")).map_err(|e| e.to_string())?;
    }
    let mut left = a.n;
    while left > 0 {
        let m = left.min(crate::evaluate::CHUNK);
        let (x, log_q) = flow.sample_at_temperature(m, a.temperature, &mut rng, &device);
        let x: Vec<f32> = to_host(x)?;
        let lq: Vec<f32> = to_host(log_q)?;
        for (row, l) in x.chunks(dim).zip(lq) {
            let cols: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            writeln!(out, "{},{l}", cols.join(",")).map_err(|e| e.to_string())?;
        }
        left -= m;
    }
    out.flush().map_err(|e| e.to_string())
}
