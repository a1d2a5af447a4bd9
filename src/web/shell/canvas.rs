//! The page's canvases: finding one and its 2D context, and where a pointer falls on one.

use wasm_bindgen::JsCast;

/// The canvas `#id` and its 2D context, if both exist.
pub fn canvas_2d(
    id: &str,
) -> Option<(
    web_sys::HtmlCanvasElement,
    web_sys::CanvasRenderingContext2d,
)> {
    let canvas = gloo_utils::document()
        .get_element_by_id(id)?
        .dyn_into::<web_sys::HtmlCanvasElement>()
        .ok()?;
    let ctx = canvas
        .get_context("2d")
        .ok()
        .flatten()?
        .dyn_into::<web_sys::CanvasRenderingContext2d>()
        .ok()?;
    Some((canvas, ctx))
}

/// Where client coordinates fall on `canvas`, as fractions of its displayed width and height
/// (0 to 1 inside it; the canvas may be drawn scaled).
fn fraction_on(canvas: &web_sys::HtmlCanvasElement, client_x: i32, client_y: i32) -> (f64, f64) {
    let rect = canvas.get_bounding_client_rect();
    (
        (client_x as f64 - rect.left()) / rect.width(),
        (client_y as f64 - rect.top()) / rect.height(),
    )
}

/// Where a mouse event falls on the canvas it targets ([`fraction_on`]).
pub fn mouse_fraction(ev: &web_sys::MouseEvent) -> (f64, f64) {
    let canvas: web_sys::HtmlCanvasElement = leptos::prelude::event_target(ev);
    fraction_on(&canvas, ev.client_x(), ev.client_y())
}

/// Where a touch event's first touch falls on the canvas it targets ([`fraction_on`]).
pub fn touch_fraction(ev: &web_sys::TouchEvent) -> Option<(f64, f64)> {
    let canvas: web_sys::HtmlCanvasElement = leptos::prelude::event_target(ev);
    let t = ev.touches().get(0)?;
    Some(fraction_on(&canvas, t.client_x(), t.client_y()))
}
