//! Loss curve: training loss and, for forward KL, validation NLL against the step.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{PlotError, PlotResult};
use crate::train::History;

/// Draws the history into `area`; the y range covers every finite value.
pub fn draw_history<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    history: &History,
    title: &str,
) -> PlotResult {
    let train: Vec<(f64, f64)> = history
        .points
        .iter()
        .filter_map(|p| {
            p.train_loss
                .filter(|v| v.is_finite())
                .map(|v| (p.step as f64, v))
        })
        .collect();
    let val: Vec<(f64, f64)> = history
        .points
        .iter()
        .filter_map(|p| {
            p.val_nll
                .filter(|v| v.is_finite())
                .map(|v| (p.step as f64, v))
        })
        .collect();
    let all = train.iter().chain(&val);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut max_step: f64 = 1.0;
    for &(s, v) in all {
        lo = lo.min(v);
        hi = hi.max(v);
        max_step = max_step.max(s);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..max_step, (lo - pad)..(hi + pad))
        .map_err(PlotError::from_backend)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("nats")
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(PlotError::from_backend)?;
    chart
        .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))
        .map_err(PlotError::from_backend)?
        .label("train loss")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    if !val.is_empty() {
        chart
            .draw_series(LineSeries::new(val, RED.stroke_width(2)))
            .map_err(PlotError::from_backend)?
            .label("validation NLL")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(PlotError::from_backend)?;
    Ok(())
}
