//! Density heatmap: `q(x)` on a grid (colour ∝ density, linear scale), with flow samples and
//! target data overlaid.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{PlotError, PlotResult, colormap};
use crate::targets::Bounds;

/// What to draw.
pub struct DensityPlot<'a> {
    pub title: &'a str,
    pub bounds: Bounds,
    /// Grid resolution (the grid is `res × res`, rows from the top, see [`Bounds::grid`]).
    pub res: usize,
    /// `log q` at the grid cell centres.
    pub log_density: &'a [f32],
    /// Flow samples `[x, y]` pairs (drawn white).
    pub samples: &'a [f32],
    /// Target data `[x, y]` pairs (drawn red), if any.
    pub data: &'a [f32],
}

/// Paints the heatmap itself into the plotting area's pixel box `(x0..x1, y0..y1)` (backend
/// pixels), instead of a rectangle per cell: the page puts the cells into an image and scales
/// it in one canvas call ([`density_rgba`]).
pub type CellPainter<'a> = &'a mut dyn FnMut((i32, i32), (i32, i32)) -> PlotResult;

/// The heatmap's colours as RGBA pixels, `res × res`, rows from the top (the grid's order):
/// the same colour scale as [`draw_density`]'s cells.
pub fn density_rgba(log_density: &[f32], res: usize) -> Vec<u8> {
    let max = max_finite(log_density);
    let mut rgba = Vec::with_capacity(res * res * 4);
    for &lp in log_density.iter().take(res * res) {
        let RGBColor(r, g, b) = colormap(((lp as f64) - max).exp());
        rgba.extend_from_slice(&[r, g, b, 255]);
    }
    rgba.resize(res * res * 4, 255);
    rgba
}

pub(crate) fn max_finite(log_density: &[f32]) -> f64 {
    log_density
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max) as f64
}

/// Draws the heatmap and scatter into `area`.
pub fn draw_density<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    plot: &DensityPlot,
) -> PlotResult {
    draw_density_with(area, plot, None)
}

/// [`draw_density`], the cells painted by `cells` when given.
pub fn draw_density_with<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    plot: &DensityPlot,
    cells: Option<CellPainter>,
) -> PlotResult {
    let b = plot.bounds;
    let mut chart = ChartBuilder::on(area)
        .caption(plot.title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(36)
        .build_cartesian_2d(b.x.0..b.x.1, b.y.0..b.y.1)
        .map_err(PlotError::from_backend)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(PlotError::from_backend)?;
    if let Some(paint) = cells {
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        paint((xs.start, xs.end), (ys.start, ys.end))?;
    } else {
        let max = max_finite(plot.log_density);
        let (dx, dy) = (
            (b.x.1 - b.x.0) / plot.res as f64,
            (b.y.1 - b.y.0) / plot.res as f64,
        );
        let cells = plot.log_density.iter().enumerate().map(|(k, &lp)| {
            let (row, col) = (k / plot.res, k % plot.res);
            let x0 = b.x.0 + col as f64 * dx;
            let y1 = b.y.1 - row as f64 * dy;
            let t = ((lp as f64) - max).exp();
            Rectangle::new([(x0, y1), (x0 + dx, y1 - dy)], colormap(t).filled())
        });
        chart.draw_series(cells).map_err(PlotError::from_backend)?;
    }
    let points = |pts: &[f32]| -> Vec<(f64, f64)> {
        pts.chunks(2)
            .map(|p| (p[0] as f64, p[1] as f64))
            .filter(|(x, y)| (b.x.0..b.x.1).contains(x) && (b.y.0..b.y.1).contains(y))
            .collect()
    };
    chart
        .draw_series(
            points(plot.data)
                .into_iter()
                .map(|p| Circle::new(p, 1, RED.mix(0.5).filled())),
        )
        .map_err(PlotError::from_backend)?;
    chart
        .draw_series(
            points(plot.samples)
                .into_iter()
                .map(|p| Circle::new(p, 1, WHITE.mix(0.7).filled())),
        )
        .map_err(PlotError::from_backend)?;
    Ok(())
}
