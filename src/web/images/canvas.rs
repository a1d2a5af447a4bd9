//! Drawing onto the image views' canvases: image grids as raw pixels (`putImageData`: one call
//! for a whole grid, where plotters would issue a rectangle per pixel) and the anomaly figures
//! with plotters-canvas.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::Clamped;

use crate::flows::image::ImageShape;
use crate::plot::anomaly::{draw_roc, draw_score_histograms};
use crate::plot::image_grid::grid_size;
use crate::web::shell::canvas::canvas_2d;

/// Draws `images` (values in `[0, 1]`, channel-major) as a grid of `cols` columns, each pixel
/// `scale`×`scale`, with 2-pixel gaps; the canvas is resized to fit.
pub fn draw_images(
    id: &str,
    images: &[Vec<f32>],
    shape: ImageShape,
    cols: usize,
    scale: usize,
) -> Result<(), String> {
    let (el, ctx) = canvas_2d(id).ok_or_else(|| format!("no canvas #{id}"))?;
    let cols = cols.max(1);
    let (h, w, c) = (shape.height, shape.width, shape.channels);
    // The same layout as the PNG grids: 2-pixel gaps around every image.
    let gap = 2;
    let (width, height) = grid_size(images.len().max(1), (h, w), cols, scale as u32);
    let (width, height) = (width as usize, height as usize);
    let mut rgba = vec![0u8; width * height * 4];
    for px in rgba.chunks_mut(4) {
        px.copy_from_slice(&[40, 40, 40, 255]);
    }
    for (k, img) in images.iter().enumerate() {
        let (gx, gy) = (k % cols, k / cols);
        for y in 0..h * scale {
            for x in 0..w * scale {
                let (sy, sx) = (y / scale, x / scale);
                let v = |ch: usize| {
                    let idx = (ch.min(c - 1) * h + sy) * w + sx;
                    (img.get(idx).copied().unwrap_or(0.0).clamp(0.0, 1.0) * 255.0).round() as u8
                };
                let (r, g, b) = if c >= 3 {
                    (v(0), v(1), v(2))
                } else {
                    (v(0), v(0), v(0))
                };
                let (cx, cy) = (
                    gap + gx * (w * scale + gap) + x,
                    gap + gy * (h * scale + gap) + y,
                );
                let o = (cy * width + cx) * 4;
                rgba[o..o + 4].copy_from_slice(&[r, g, b, 255]);
            }
        }
    }
    el.set_width(width as u32);
    el.set_height(height as u32);
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&rgba),
        width as u32,
        height as u32,
    )
    .map_err(|e| format!("{e:?}"))?;
    ctx.put_image_data(&data, 0.0, 0.0)
        .map_err(|e| format!("{e:?}"))
}

/// The histograms (left) and the ROC curve (right) on canvas `id`.
pub fn draw_anomaly(
    id: &str,
    inliers: (&[f64], &str),
    outliers: (&[f64], &str),
    score_name: &str,
    curve: &[(f64, f64)],
    auroc: f64,
) -> Result<(), String> {
    let backend = CanvasBackend::new(id).ok_or_else(|| format!("no canvas #{id}"))?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 * 3 / 5);
    draw_score_histograms(&left, inliers, outliers, score_name)?;
    draw_roc(&right, curve, auroc)?;
    root.present().map_err(|e| e.to_string())
}
