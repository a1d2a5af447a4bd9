//! Drawing the live views onto `<canvas>` elements with plotters-canvas, reusing the crate's
//! plotting code (the CLI draws the same pictures to PNG/SVG).

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{Clamped, JsCast};

use crate::web::shell::canvas::canvas_2d;

use super::protocol::{Frame, StageView};
use crate::plot::density::{density_rgba, draw_density_with};
use crate::plot::{DensityPlot, PlotError, draw_history};
use crate::train::History;

/// Heatmap of `q` with samples and data on canvas `id`. The cells are one `res × res` image
/// scaled into the plot with smoothing (one `drawImage` call; a rectangle per cell took
/// ≈ 100 ms at 128 × 128).
pub fn density(id: &str, frame: &Frame, title: &str) -> Result<(), String> {
    let snap = &frame.snapshot;
    let (canvas, ctx) = canvas_2d(id).ok_or_else(|| format!("no canvas #{id}"))?;
    let backend =
        CanvasBackend::with_canvas_object(canvas).ok_or_else(|| format!("no canvas #{id}"))?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut paint = |(x0, x1): (i32, i32), (y0, y1): (i32, i32)| {
        paint_cells(&ctx, &snap.grid, snap.res, (x0, y0, x1 - x0, y1 - y0)).map_err(PlotError)
    };
    draw_density_with(
        &root,
        &DensityPlot {
            title,
            bounds: frame.bounds,
            res: snap.res,
            log_density: &snap.grid,
            samples: &snap.samples,
            data: &frame.data,
        },
        Some(&mut paint),
    )?;
    root.present().map_err(|e| e.to_string())
}

/// Puts the heatmap's `res × res` pixels on a scratch canvas and draws it scaled into
/// `(x, y, width, height)` of `ctx` (bilinear smoothing).
fn paint_cells(
    ctx: &web_sys::CanvasRenderingContext2d,
    log_density: &[f32],
    res: usize,
    (x, y, w, h): (i32, i32, i32, i32),
) -> Result<(), String> {
    let rgba = density_rgba(log_density, res);
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&rgba),
        res as u32,
        res as u32,
    )
    .map_err(|e| format!("{e:?}"))?;
    let scratch = gloo_utils::document()
        .create_element("canvas")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into::<web_sys::HtmlCanvasElement>()
        .map_err(|_| "not a canvas".to_string())?;
    scratch.set_width(res as u32);
    scratch.set_height(res as u32);
    let scratch_ctx = scratch
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
        .ok_or("no 2d context on the scratch canvas")?;
    scratch_ctx
        .put_image_data(&image, 0.0, 0.0)
        .map_err(|e| format!("{e:?}"))?;
    ctx.set_image_smoothing_enabled(true);
    ctx.draw_image_with_html_canvas_element_and_dw_and_dh(
        &scratch, x as f64, y as f64, w as f64, h as f64,
    )
    .map_err(|e| format!("{e:?}"))
}

/// Loss curve on canvas `id`.
pub fn losses(id: &str, history: &History) -> Result<(), String> {
    let backend = CanvasBackend::new(id).ok_or_else(|| format!("no canvas #{id}"))?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    draw_history(&root, history, "loss")?;
    root.present().map_err(|e| e.to_string())
}

/// A CNF stage's velocity arrows (`[x, y, vx, vy]` quads), the longest a grid cell long.
fn draw_arrows<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    arrows: &[f32],
    r: f64,
) -> Result<(), String> {
    let longest = arrows
        .chunks(4)
        .map(|a| (a[2] as f64).hypot(a[3] as f64))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    if longest <= 0.0 {
        return Ok(());
    }
    let cells = (arrows.len() / 4).max(1) as f64;
    let scale = 2.0 * r / cells.sqrt() / longest * 0.9;
    let grey = RGBColor(90, 90, 90);
    chart
        .draw_series(arrows.chunks(4).map(|a| {
            let (x, y) = (a[0] as f64, a[1] as f64);
            let (dx, dy) = (a[2] as f64 * scale, a[3] as f64 * scale);
            PathElement::new(vec![(x, y), (x + dx, y + dy)], grey.stroke_width(1))
        }))
        .map_err(|e| e.to_string())?;
    // A dot at each arrow's head shows the direction.
    chart
        .draw_series(arrows.chunks(4).map(|a| {
            let head = (
                a[0] as f64 + a[2] as f64 * scale,
                a[1] as f64 + a[3] as f64 * scale,
            );
            Circle::new(head, 1, grey.filled())
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The layer scrubber's picture: the points of one stage, in a box fitted to them (with a
/// continuous flow's velocity field as arrows at its stages).
pub fn stage(id: &str, stages: &[StageView], k: usize) -> Result<(), String> {
    let (Some(stage), Some(first)) = (stages.get(k), stages.first()) else {
        return Ok(());
    };
    let total = stages.len();
    let backend = CanvasBackend::new(id).ok_or_else(|| format!("no canvas #{id}"))?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let pts: Vec<(f64, f64)> = stage
        .points
        .chunks(2)
        .map(|p| (p[0] as f64, p[1] as f64))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let r = super::protocol::stage_radius(&stage.points);
    let title = format!(
        "stage {k}/{}: {} · mean log|det| {:.3}",
        total - 1,
        stage.label,
        stage.mean_logdet
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 13))
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(30)
        .build_cartesian_2d(-r..r, -r..r)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(|e| e.to_string())?;
    draw_arrows(&mut chart, &stage.arrows, r)?;
    // Colour each point by its angle in the base space, so one can follow it layer to layer.
    let hue: Vec<f64> = first
        .points
        .chunks(2)
        .map(|p| ((p[1] as f64).atan2(p[0] as f64) + std::f64::consts::PI) / std::f64::consts::TAU)
        .collect();
    chart
        .draw_series(
            pts.into_iter()
                .zip(hue)
                .map(|(p, h)| Circle::new(p, 2, crate::plot::colormap(h).filled())),
        )
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
