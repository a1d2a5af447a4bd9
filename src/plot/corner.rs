//! Corner plot: how a flow's samples match the data in every marginal and every pair of
//! dimensions. On the diagonal, each dimension's histogram (data in grey bars, flow as a blue
//! line); below it, the pairwise 2D histograms of the data; above it, the same of the flow's
//! samples, each on the axes of its mirror image below (corner.py's figure, with the upper half
//! given to the model so that data and flow sit side by side).
//!
//! Ranges: per dimension, the 0.5–99.5 % quantiles of data and samples together, widened 5 %.
//! A key above the panels ([`LEGEND`]) says which is which, under an optional caption.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{PlotError, PlotResult, colormap};
use crate::numeric::{histogram, quantile};

/// The key above the panels: which half and which marks are the data and which the flow.
pub const LEGEND: &str =
    "diagonal: data (grey bars) vs flow (blue line) · below: data · above: flow samples";

/// What to compare: rows of `dim` values each.
pub struct Corner<'a> {
    pub dim: usize,
    pub data: &'a [f32],
    pub samples: &'a [f32],
    pub labels: &'a [String],
    pub bins: usize,
    /// A line above the panels (`fit --csv`: the flow's and the Gaussian's validation NLL).
    pub caption: Option<String>,
}

impl Corner<'_> {
    /// Column `j` of `rows` as f64.
    fn column(rows: &[f32], dim: usize, j: usize) -> impl Iterator<Item = f64> + Clone + '_ {
        rows.chunks(dim).map(move |r| r[j] as f64)
    }

    /// The plotted range of dimension `j`.
    pub fn range(&self, j: usize) -> (f64, f64) {
        let both =
            || Self::column(self.data, self.dim, j).chain(Self::column(self.samples, self.dim, j));
        let lo = quantile(both(), 0.005).unwrap_or(-1.0);
        let hi = quantile(both(), 0.995).unwrap_or(1.0);
        let pad = 0.05 * (hi - lo).max(1e-6);
        (lo - pad, hi + pad)
    }

    /// The 1D histogram of dimension `j` of `rows` over [`Self::range`].
    pub fn marginal(&self, rows: &[f32], j: usize) -> Vec<f64> {
        histogram(Self::column(rows, self.dim, j), self.range(j), self.bins)
    }

    /// Each dimension's total-variation distance between the data's and the samples'
    /// histograms (0: the same, 1: disjoint; about `√(bins/n)` from sampling noise alone).
    pub fn marginal_tv(&self) -> Vec<f64> {
        (0..self.dim)
            .map(|j| {
                crate::numeric::total_variation(
                    &self.marginal(self.data, j),
                    &self.marginal(self.samples, j),
                )
            })
            .collect()
    }
}

/// The pixel size of a corner plot of `dim` dimensions with panels of `side` pixels.
pub fn corner_size(dim: usize, side: u32) -> (u32, u32) {
    let n = dim.max(1) as u32;
    (n * side, n * side)
}

/// Draws the corner plot into `area`.
pub fn draw_corner<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    corner: &Corner,
) -> PlotResult {
    area.fill(&WHITE).map_err(PlotError::from_backend)?;
    let area = match &corner.caption {
        Some(text) => area
            .titled(text, ("sans-serif", 14))
            .map_err(PlotError::from_backend)?,
        None => area.clone(),
    };
    let area = area
        .titled(LEGEND, ("sans-serif", 12))
        .map_err(PlotError::from_backend)?;
    let d = corner.dim.max(1);
    let cells = area.split_evenly((d, d));
    for i in 0..d {
        for j in 0..d {
            let a = &cells[i * d + j];
            match i.cmp(&j) {
                std::cmp::Ordering::Equal => draw_marginal(a, corner, i)?,
                // Below the diagonal: data (x: dimension j, y: dimension i); above: the flow on
                // the axes of its mirror image, so that the two read alike.
                std::cmp::Ordering::Greater => draw_pair(a, corner, corner.data, (j, i), "data")?,
                std::cmp::Ordering::Less => draw_pair(a, corner, corner.samples, (i, j), "flow")?,
            }
        }
    }
    area.present().map_err(PlotError::from_backend)
}

fn draw_marginal<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &Corner,
    j: usize,
) -> PlotResult {
    let (lo, hi) = c.range(j);
    let (data, flow) = (c.marginal(c.data, j), c.marginal(c.samples, j));
    let top = data.iter().chain(&flow).copied().fold(0.0, f64::max) * 1.1 + 1e-9;
    let label = c.labels.get(j).cloned().unwrap_or_else(|| format!("x{j}"));
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{label}: data vs flow"), ("sans-serif", 13))
        .margin(4)
        .x_label_area_size(20)
        .y_label_area_size(0)
        .build_cartesian_2d(lo..hi, 0.0..top)
        .map_err(PlotError::from_backend)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels(4)
        .label_style(("sans-serif", 10))
        .draw()
        .map_err(PlotError::from_backend)?;
    let width = (hi - lo) / c.bins as f64;
    chart
        .draw_series(data.iter().enumerate().map(|(k, &v)| {
            let x0 = lo + k as f64 * width;
            Rectangle::new(
                [(x0, 0.0), (x0 + width, v)],
                RGBColor(170, 170, 170).filled(),
            )
        }))
        .map_err(PlotError::from_backend)?;
    let steps = flow.iter().enumerate().flat_map(|(k, &v)| {
        let x0 = lo + k as f64 * width;
        [(x0, v), (x0 + width, v)]
    });
    chart
        .draw_series(LineSeries::new(
            steps,
            RGBColor(31, 90, 200).stroke_width(2),
        ))
        .map_err(PlotError::from_backend)?;
    Ok(())
}

/// The 2D histogram of dimensions `(x, y)` of `rows` as a heatmap (y up).
fn draw_pair<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &Corner,
    rows: &[f32],
    (x, y): (usize, usize),
    who: &str,
) -> PlotResult {
    let ((x0, x1), (y0, y1)) = (c.range(x), c.range(y));
    let b = c.bins;
    let mut counts = vec![0u32; b * b];
    for r in rows.chunks(c.dim) {
        let u = ((r[x] as f64 - x0) / (x1 - x0) * b as f64).floor();
        let v = ((y1 - r[y] as f64) / (y1 - y0) * b as f64).floor();
        if (0.0..b as f64).contains(&u) && (0.0..b as f64).contains(&v) {
            counts[v as usize * b + u as usize] += 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (titled, heat) = area.split_vertically(16);
    let name = |j: usize| c.labels.get(j).cloned().unwrap_or_else(|| format!("x{j}"));
    let title = format!("{who}   → {}   ↑ {}", name(x), name(y));
    titled
        .draw_text(&title, &("sans-serif", 12).into_text_style(&titled), (4, 2))
        .map_err(PlotError::from_backend)?;
    let heat = heat.margin(1, 3, 3, 3);
    let (w, h) = heat.dim_in_pixel();
    for py in 0..h {
        let row = (py as usize * b / h.max(1) as usize).min(b - 1);
        for px in 0..w {
            let col = (px as usize * b / w.max(1) as usize).min(b - 1);
            let t = counts[row * b + col] as f64 / max;
            heat.draw_pixel((px as i32, py as i32), &colormap(t))
                .map_err(PlotError::from_backend)?;
        }
    }
    Ok(())
}
