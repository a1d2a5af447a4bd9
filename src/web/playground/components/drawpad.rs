//! The drawing pad for `target=draw`: click or drag to add points, which become the training
//! data.

use leptos::prelude::*;

use crate::web::playground::session::DRAW_BOUNDS;
use crate::web::playground::state::Page;
use crate::web::shell::canvas::canvas_2d;

/// Repaints the pad: axes and the drawn points.
fn paint(page: &Page) {
    let Some((canvas, ctx)) = canvas_2d("draw-canvas") else {
        return;
    };
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, w, h);
    ctx.set_stroke_style_str("#cccccc");
    ctx.begin_path();
    ctx.move_to(w / 2.0, 0.0);
    ctx.line_to(w / 2.0, h);
    ctx.move_to(0.0, h / 2.0);
    ctx.line_to(w, h / 2.0);
    ctx.stroke();
    ctx.set_fill_style_str("rgba(200, 30, 30, 0.6)");
    let b = DRAW_BOUNDS;
    page.drawn.with_value(|pts| {
        for p in pts.chunks(2) {
            let x = (p[0] as f64 - b.x.0) / (b.x.1 - b.x.0) * w;
            let y = (b.y.1 - p[1] as f64) / (b.y.1 - b.y.0) * h;
            ctx.fill_rect(x - 1.5, y - 1.5, 3.0, 3.0);
        }
    });
}

/// Adds a small cloud of points around the pointer (pixel `(px, py)` on a `w × h` pad).
fn add_points(page: &Page, px: f64, py: f64, w: f64, h: f64) {
    let b = DRAW_BOUNDS;
    let x = b.x.0 + px / w * (b.x.1 - b.x.0);
    let y = b.y.1 - py / h * (b.y.1 - b.y.0);
    let count = page.drawn_count.get_untracked();
    let mut rng = crate::rng::Rng::new(count as u64 + 1);
    page.drawn.update_value(|pts| {
        for _ in 0..4 {
            pts.push((x + 0.08 * rng.normal()) as f32);
            pts.push((y + 0.08 * rng.normal()) as f32);
        }
    });
    page.drawn_count.set(page.drawn.with_value(|p| p.len() / 2));
    paint(page);
}

/// The pad, shown while the target is "draw your own".
#[component]
pub fn DrawPad() -> impl IntoView {
    let page = expect_context::<Page>();
    let dragging = RwSignal::new(false);
    let add = move |ev: &web_sys::MouseEvent| {
        let canvas: web_sys::HtmlCanvasElement = event_target(ev);
        let rect = canvas.get_bounding_client_rect();
        let px = (ev.client_x() as f64 - rect.left()) * canvas.width() as f64 / rect.width();
        let py = (ev.client_y() as f64 - rect.top()) * canvas.height() as f64 / rect.height();
        add_points(&page, px, py, canvas.width() as f64, canvas.height() as f64);
    };
    Effect::new(move |_| {
        if page.config.get().drawing {
            paint(&page);
        }
    });
    view! {
        <div class="drawpad" style:display=move || if page.config.get().drawing { "flex" } else { "none" }>
            <label for="draw-canvas">
                "Draw your data: click or drag on the pad (" {move || page.drawn_count.get()} " points; at least 20 to train)"
            </label>
            <canvas id="draw-canvas" width="400" height="400"
                on:mousedown=move |ev| { dragging.set(true); add(&ev); }
                on:mousemove=move |ev| if dragging.get_untracked() { add(&ev) }
                on:mouseup=move |_| dragging.set(false)
                on:mouseleave=move |_| dragging.set(false)></canvas>
            <button id="clear-drawing" on:click=move |_| {
                page.drawn.set_value(Vec::new());
                page.drawn_count.set(0);
                paint(&page);
                page.clear_run();
            }>"Clear points"</button>
        </div>
    }
}
