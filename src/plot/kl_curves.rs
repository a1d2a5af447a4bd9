//! Rezende & Mohamed's Fig. 3(d): how the fit improves with the flow's length — one panel per
//! energy, `KL(q ‖ p)` (log scale, floored at 10⁻³ where a Monte Carlo estimate of a near-zero
//! KL dips below it) against the number of layers K (on a log₂ axis, labelled in K), one line
//! per flow family.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{PlotError, PlotResult};

/// The lowest KL drawn.
const FLOOR: f64 = 1e-3;
/// The families' colours, in order.
const COLOURS: [RGBColor; 4] = [
    RGBColor(40, 90, 200),
    RGBColor(210, 90, 30),
    RGBColor(40, 150, 70),
    RGBColor(140, 60, 160),
];

/// One family's curve: its name and `(K, KL)` points in increasing K.
pub struct Curve {
    pub name: String,
    pub points: Vec<(usize, f64)>,
}

/// Width and height of the figure for `panels` energies, each `side` wide.
pub fn kl_curves_size(panels: usize, side: u32) -> (u32, u32) {
    (side * panels.max(1) as u32, side * 4 / 5)
}

/// One panel per `(title, curves)`.
pub fn draw_kl_curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panels: &[(String, Vec<Curve>)],
) -> PlotResult {
    area.fill(&WHITE).map_err(PlotError::from_backend)?;
    let cells = area.split_evenly((1, panels.len().max(1)));
    for (cell, (title, curves)) in cells.iter().zip(panels) {
        let ks = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| (p.0.max(1) as f64).log2()));
        let (k_lo, k_hi) = ks.fold((f64::MAX, 0.0f64), |(lo, hi), k| (lo.min(k), hi.max(k)));
        let k_lo = k_lo.min(k_hi);
        let kl_hi = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.1))
            .fold(0.1f64, f64::max);
        let mut chart = ChartBuilder::on(cell)
            .caption(title.as_str(), ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(k_lo - 0.4..k_hi + 0.4, (FLOOR..kl_hi * 2.0).log_scale())
            .map_err(PlotError::from_backend)?;
        chart
            .configure_mesh()
            .x_desc("flow length K")
            .y_desc("KL(q ‖ p), nats")
            .x_labels((k_hi - k_lo).round() as usize + 1)
            .x_label_formatter(&|v| format!("{:.0}", v.exp2()))
            .light_line_style(WHITE)
            .y_label_formatter(&|v| format!("{v:.3}"))
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(PlotError::from_backend)?;
        for (curve, colour) in curves.iter().zip(COLOURS.iter().cycle()) {
            let points: Vec<(f64, f64)> = curve
                .points
                .iter()
                .map(|&(k, kl)| ((k.max(1) as f64).log2(), kl.max(FLOOR)))
                .collect();
            let style = colour.stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(PlotError::from_backend)?
                .label(curve.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], style));
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(PlotError::from_backend)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(PlotError::from_backend)?;
    }
    Ok(())
}
