//! Drawing the live views onto `<canvas>` elements with plotters-canvas, reusing the crate's
//! plotting code (the CLI draws the same pictures to PNG/SVG).

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

use super::session::{GRID_RES, Session, Snapshot};
use crate::plot::{DensityPlot, draw_density, draw_history};

/// Heatmap of `q` with samples and data on canvas `id`.
pub fn density(id: &str, session: &Session, snap: &Snapshot, title: &str) -> Result<(), String> {
    let backend = CanvasBackend::new(id).ok_or_else(|| format!("no canvas #{id}"))?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    draw_density(
        &root,
        &DensityPlot {
            title,
            bounds: session.bounds,
            res: GRID_RES,
            log_density: &snap.grid,
            samples: &snap.samples,
            data: &session.data,
        },
    )?;
    root.present().map_err(|e| e.to_string())
}

/// Loss curve on canvas `id`.
pub fn losses(id: &str, session: &Session) -> Result<(), String> {
    let backend = CanvasBackend::new(id).ok_or_else(|| format!("no canvas #{id}"))?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    draw_history(&root, &session.trainer.history, "loss")?;
    root.present().map_err(|e| e.to_string())
}
