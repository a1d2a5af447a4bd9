//! Interpolation: two test images (clicked in a strip) encoded, the straight and the spherical
//! path between their codes decoded frame by frame.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::canvas::draw_images;
use super::state::{ImagePage, Work};
use crate::explore::latent::{decode, encode, path, pick, reconstruction_error};
use crate::web::shell::context::Shell;
use crate::web::shell::host::now_ms;

/// Frames per path, the two ends included.
pub const FRAMES: usize = 10;
/// Test images shown in the strip to pick from.
pub const STRIP: usize = 16;

/// Draws the pick strip and both paths between images `a` and `b` of the inlier subset.
pub fn draw_paths(page: Shell, images: ImagePage) {
    let (Some(model), Some(data)) = (images.model(), images.data()) else {
        return;
    };
    let cfg = page.config.get_untracked();
    let n = data.inliers.len();
    let (a, b) = match (pick(cfg.images.a, n), pick(cfg.images.b, n)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return images.fail(e),
    };
    let generation = images.begin();
    spawn_local(async move {
        let t0 = now_ms();
        let strip: Vec<Vec<f32>> = (0..STRIP.min(n))
            .map(|i| {
                data.inliers
                    .image(i)
                    .iter()
                    .map(|&k| k as f32 / 255.0)
                    .collect()
            })
            .collect();
        if let Err(e) = draw_images("strip-canvas", &strip, model.shape, STRIP, 2) {
            return images.fail(e);
        }
        let codes = match encode(&model.flow, &data.inliers, &[a, b], &model.device).await {
            Ok(c) => c,
            Err(e) => return images.fail(format!("encoding failed: {e}")),
        };
        let mut frames = path(&codes[0], &codes[1], FRAMES, false);
        frames.extend(path(&codes[0], &codes[1], FRAMES, true));
        let decoded = match decode(&model.flow, &frames, &model.device).await {
            Ok(d) => d,
            Err(e) => return images.fail(format!("decoding failed: {e}")),
        };
        if !images.current(generation) {
            return;
        }
        if let Err(e) = draw_images("interp-canvas", &decoded, model.shape, FRAMES, 2) {
            return images.fail(e);
        }
        let error = reconstruction_error(&decoded[0], data.inliers.image(a)).max(
            reconstruction_error(&decoded[FRAMES - 1], data.inliers.image(b)),
        );
        images.end_error.set(Some(error));
        images.samples_drawn.set(decoded.len());
        images.took_ms.set(Some(now_ms() - t0));
        images.work.set(Work::Done);
    });
}

#[component]
pub fn InterpolateView() -> impl IntoView {
    let page = expect_context::<Shell>();
    let images = expect_context::<ImagePage>();
    Effect::new(move |_| {
        if images.loaded.get() > 0 {
            draw_paths(page, images);
        }
    });
    // A click on the strip picks `a` (left half of a cell's click count: alternate a, b).
    let next_is_a = RwSignal::new(true);
    let pick = move |ev: web_sys::MouseEvent| {
        let Some(model) = images.model() else {
            return;
        };
        let canvas: web_sys::HtmlCanvasElement = event_target(&ev);
        let rect = canvas.get_bounding_client_rect();
        let x = (ev.client_x() as f64 - rect.left()) * canvas.width() as f64 / rect.width();
        let cell = (model.shape.width * 2 + 2) as f64;
        let k = ((x - 2.0) / cell).floor().clamp(0.0, (STRIP - 1) as f64) as usize;
        let first = next_is_a.get_untracked();
        page.config.update(|c| {
            if first {
                c.images.a = k
            } else {
                c.images.b = k
            }
        });
        next_is_a.set(!first);
        draw_paths(page, images);
    };
    let num = move |f: fn(&crate::web::shell::url::ImageViewConfig) -> usize| {
        move || page.config.with(|c| f(&c.images))
    };
    view! {
        <p class="explain">
            "Two test images are encoded to their latent codes z = f(x) and the path between them is decoded \
             frame by frame: top row straight, (1 − t)·a + t·b; bottom row spherical (slerp), which stays where \
             Gaussian codes have their mass. Click the strip to pick image a, then b."
        </p>
        <p>"a = " <span id="interp-a">{num(|i| i.a)}</span> ", b = " <span id="interp-b">{num(|i| i.b)}</span>
           {move || images.end_error.get().map(|e| format!(" · ends reconstruct the inputs to {e:.2e} mean |Δpixel|"))}</p>
        <canvas id="strip-canvas" width="900" height="60" on:click=pick tabindex="0"
            aria-label="test images to interpolate between; click to pick a, then b"></canvas>
        <canvas id="interp-canvas" width="600" height="130"></canvas>
    }
}
