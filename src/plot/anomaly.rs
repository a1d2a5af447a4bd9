//! The anomaly-detection figure: histograms of the inliers' and the outliers' scores on one
//! grid, and the ROC curve with its AUROC.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{PlotError, PlotResult};
use crate::explore::roc::{histogram, joint_range};

/// Bins of the score histograms.
const BINS: usize = 30;

/// Two histograms (inliers blue, outliers red, translucent) of `inliers` and `outliers` on a
/// shared grid, counts normalised to fractions of each set.
pub fn draw_score_histograms<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (inliers, inlier_name): (&[f64], &str),
    (outliers, outlier_name): (&[f64], &str),
    score_name: &str,
) -> PlotResult {
    let (lo, hi) = joint_range(inliers, outliers).unwrap_or((0.0, 1.0));
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let width = (hi - lo) / BINS as f64;
    let fractions = |v: &[f64]| -> Vec<f64> {
        let n = v.len().max(1) as f64;
        histogram(v, lo, hi, BINS)
            .into_iter()
            .map(|c| c as f64 / n)
            .collect()
    };
    let (fi, fo) = (fractions(inliers), fractions(outliers));
    let top = fi.iter().chain(&fo).cloned().fold(0.0, f64::max).max(1e-3) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{score_name}: histograms"), ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(40)
        .build_cartesian_2d(lo..hi, 0.0..top)
        .map_err(PlotError::from_backend)?;
    chart
        .configure_mesh()
        .x_desc(score_name)
        .y_desc("fraction")
        .light_line_style(WHITE)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(PlotError::from_backend)?;
    for (values, color, name) in [
        (&fi, RGBColor(40, 90, 200), inlier_name),
        (&fo, RGBColor(210, 50, 40), outlier_name),
    ] {
        let style = color.mix(0.45).filled();
        chart
            .draw_series(values.iter().enumerate().map(|(k, &f)| {
                let x0 = lo + k as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, f)], style)
            }))
            .map_err(PlotError::from_backend)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(PlotError::from_backend)
}

/// The ROC curve `(false positive rate, true positive rate)` with the chance diagonal.
pub fn draw_roc<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    curve: &[(f64, f64)],
    auroc: f64,
) -> PlotResult {
    let mut chart = ChartBuilder::on(area)
        .caption(format!("ROC · AUROC {auroc:.3}"), ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(PlotError::from_backend)?;
    chart
        .configure_mesh()
        .x_desc("false positive rate")
        .y_desc("true positive rate")
        .light_line_style(WHITE)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(PlotError::from_backend)?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
        .map_err(PlotError::from_backend)?;
    chart
        .draw_series(LineSeries::new(curve.iter().copied(), BLUE.stroke_width(2)))
        .map_err(PlotError::from_backend)?;
    Ok(())
}
