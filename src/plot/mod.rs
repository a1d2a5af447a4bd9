//! Drawings shared by the CLI (PNG/SVG) and the page (canvas): every function is generic over a
//! plotters `DrawingBackend`.

pub mod anomaly;
pub mod corner;
pub mod density;
pub mod history;
pub mod image_grid;
pub mod kl_curves;
pub mod panel_grid;
pub mod ranks;

pub use density::{DensityPlot, draw_density};
pub use history::draw_history;

/// A drawing that failed (plotters' error type is generic over the backend, so it is kept as
/// its message).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("drawing failed: {0}")]
pub struct PlotError(pub String);

impl PlotError {
    /// Wraps any backend's error.
    pub fn from_backend(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

impl From<PlotError> for String {
    fn from(e: PlotError) -> Self {
        e.to_string()
    }
}

/// The result of a drawing function.
pub type PlotResult = Result<(), PlotError>;

/// Viridis-like colour map on `t ∈ [0, 1]` (five anchor colours, linearly interpolated).
pub fn colormap(t: f64) -> plotters::style::RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let lerp = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    plotters::style::RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}
