//! A grid of small density panels with a title each and a label per row: the figures of
//! `flowplay reproduce` (Rezende & Mohamed's Fig. 3, the 2D gallery). Each panel is a heatmap
//! of `q` on its own colour scale (as in the papers' figures), without axes.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::density::max_finite;
use super::{PlotError, PlotResult, colormap};

/// One panel: `log q` on a `res × res` grid (rows from the top) and its title.
pub struct Panel<'a> {
    pub title: String,
    pub log_density: &'a [f32],
    pub res: usize,
}

/// Width of the row-label column, pixels.
const LABEL_WIDTH: u32 = 104;
/// Height of each panel's title, pixels.
const TITLE_HEIGHT: u32 = 20;

/// The size in pixels of a grid of `rows × cols` panels of `side` pixels.
pub fn panel_grid_size(rows: usize, cols: usize, side: u32) -> (u32, u32) {
    (
        LABEL_WIDTH + cols as u32 * side,
        rows as u32 * (side + TITLE_HEIGHT),
    )
}

/// Draws `panels` (row-major, `row_labels.len()` rows) into `area`.
pub fn draw_panel_grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    row_labels: &[String],
    panels: &[Panel],
) -> PlotResult {
    let rows = row_labels.len().max(1);
    let cols = panels.len().div_ceil(rows).max(1);
    area.fill(&WHITE).map_err(PlotError::from_backend)?;
    let (w, _) = area.dim_in_pixel();
    let (labels, grid) = area.split_horizontally(LABEL_WIDTH.min(w));
    let label_rows = labels.split_evenly((rows, 1));
    for (label, a) in row_labels.iter().zip(&label_rows) {
        let (_, h) = a.dim_in_pixel();
        a.draw_text(
            label,
            &("sans-serif", 16).into_text_style(a),
            (6, h as i32 / 2),
        )
        .map_err(PlotError::from_backend)?;
    }
    for (panel, a) in panels.iter().zip(grid.split_evenly((rows, cols))) {
        let (titled, heat) = a.split_vertically(TITLE_HEIGHT);
        titled
            .draw_text(
                &panel.title,
                &("sans-serif", 13).into_text_style(&titled),
                (4, 3),
            )
            .map_err(PlotError::from_backend)?;
        paint_heat(&heat.margin(1, 2, 2, 2), panel.log_density, panel.res)?;
    }
    area.present().map_err(PlotError::from_backend)
}

/// Paints `log q` into every pixel of `area`, nearest grid cell, colour ∝ q / max q.
fn paint_heat<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    log_density: &[f32],
    res: usize,
) -> PlotResult {
    let (w, h) = area.dim_in_pixel();
    let max = max_finite(log_density);
    if res == 0 || log_density.len() < res * res || w == 0 || h == 0 {
        return Ok(());
    }
    for py in 0..h {
        let row = (py as usize * res / h as usize).min(res - 1);
        for px in 0..w {
            let col = (px as usize * res / w as usize).min(res - 1);
            let t = ((log_density[row * res + col] as f64) - max).exp();
            area.draw_pixel((px as i32, py as i32), &colormap(t))
                .map_err(PlotError::from_backend)?;
        }
    }
    Ok(())
}
