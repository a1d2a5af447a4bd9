//! The simulation-based calibration figure (Talts et al. 2018, Fig. 1): one rank histogram
//! per coordinate of `θ`, with the count a calibrated posterior gives every bin and the band
//! that holds 99 % of such bins (binomial, `N/B ± 2.58 √(N p (1 − p))`, `p = 1/B`), and the
//! Kolmogorov–Smirnov p-value in each panel's title.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{PlotError, PlotResult};
use crate::inverse::calibration::Calibration;

/// Width and height of the figure for `dim` coordinates, each panel `side` wide.
pub fn ranks_size(dim: usize, side: u32) -> (u32, u32) {
    (side * dim.max(1) as u32, side * 3 / 4)
}

/// One rank histogram per coordinate of `c`, titled by `names`.
pub fn draw_rank_histograms<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &Calibration,
    names: &[&str],
) -> PlotResult {
    area.fill(&WHITE).map_err(PlotError::from_backend)?;
    let panels = area.split_evenly((1, c.histogram.len().max(1)));
    for (j, (panel, counts)) in panels.iter().zip(&c.histogram).enumerate() {
        let bins = counts.len();
        let expected = c.pairs as f64 / bins as f64;
        let p = 1.0 / bins as f64;
        let band = 2.58 * (c.pairs as f64 * p * (1.0 - p)).sqrt();
        let top = counts
            .iter()
            .map(|&k| k as f64)
            .fold(expected + band, f64::max)
            * 1.15;
        let name = names.get(j).copied().unwrap_or("θ");
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{name}: KS p = {:.3}", c.ks_p_value[j]),
                ("sans-serif", 15),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..bins as f64, 0.0..top.max(1.0))
            .map_err(PlotError::from_backend)?;
        chart
            .configure_mesh()
            .x_desc(format!("rank bin (of {} draws)", c.draws_per_pair))
            .y_desc("pairs")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(PlotError::from_backend)?;
        let grey = RGBColor(200, 200, 200).mix(0.6).filled();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [
                    (0.0, (expected - band).max(0.0)),
                    (bins as f64, expected + band),
                ],
                grey,
            )))
            .map_err(PlotError::from_backend)?;
        let blue = RGBColor(40, 90, 200).mix(0.75).filled();
        chart
            .draw_series(counts.iter().enumerate().map(|(k, &n)| {
                Rectangle::new([(k as f64 + 0.08, 0.0), (k as f64 + 0.92, n as f64)], blue)
            }))
            .map_err(PlotError::from_backend)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, expected), (bins as f64, expected)],
                BLACK.stroke_width(1),
            ))
            .map_err(PlotError::from_backend)?;
    }
    Ok(())
}
