//! A grid of images (samples of an image flow), drawn on any plotters backend: PNG natively,
//! canvas in the page. Grey for one channel, RGB for three.

use plotters::prelude::*;

use super::{PlotError, PlotResult};

/// Draws `images` (each `c·h·w` values in `[0, 1]`, channel-major) as a grid with `cols`
/// columns, each image scaled up by `scale` pixels per pixel, with a 2-pixel gap.
pub fn draw_image_grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    images: &[Vec<f32>],
    (c, h, w): (usize, usize, usize),
    cols: usize,
    scale: u32,
) -> PlotResult {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| PlotError(format!("{e:?}"));
    area.fill(&RGBColor(40, 40, 40)).map_err(err)?;
    let gap = 2i32;
    let s = scale as i32;
    let cell_w = w as i32 * s + gap;
    let cell_h = h as i32 * s + gap;
    for (k, img) in images.iter().enumerate() {
        let (gx, gy) = ((k % cols) as i32, (k / cols) as i32);
        for y in 0..h {
            for x in 0..w {
                let v = |ch: usize| {
                    let idx = (ch.min(c - 1) * h + y) * w + x;
                    (img[idx].clamp(0.0, 1.0) * 255.0).round() as u8
                };
                let color = if c >= 3 {
                    RGBColor(v(0), v(1), v(2))
                } else {
                    let g = v(0);
                    RGBColor(g, g, g)
                };
                let x0 = gap + gx * cell_w + x as i32 * s;
                let y0 = gap + gy * cell_h + y as i32 * s;
                area.draw(&Rectangle::new(
                    [(x0, y0), (x0 + s, y0 + s)],
                    color.filled(),
                ))
                .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// The pixel size of a grid of `n` images of `h×w` with `cols` columns at `scale`.
pub fn grid_size(n: usize, (h, w): (usize, usize), cols: usize, scale: u32) -> (u32, u32) {
    let rows = n.div_ceil(cols.max(1));
    let gap = 2u32;
    (
        gap + cols as u32 * (w as u32 * scale + gap),
        gap + rows as u32 * (h as u32 * scale + gap),
    )
}
