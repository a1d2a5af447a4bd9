//! The 28×28 drawing pad of the image views (anomaly scoring, classification): mouse, touch,
//! or the arrow keys and Space, white on black like MNIST.

use leptos::prelude::*;

use crate::web::shell::canvas::{canvas_2d, mouse_fraction, touch_fraction};

/// Side length of the drawing pad in image pixels, and its scale on screen.
const PAD: usize = 28;
const PAD_SCALE: usize = 8;

/// Draws `pixels` (28×28, grey) on the pad's canvas with the keyboard cursor's cell outlined.
fn draw_pad(pixels: &[u8], (cx, cy): (usize, usize)) {
    let Some((_, ctx)) = canvas_2d("digit-pad") else {
        return;
    };
    let s = PAD_SCALE as f64;
    for (i, &v) in pixels.iter().enumerate() {
        ctx.set_fill_style_str(&format!("rgb({v},{v},{v})"));
        ctx.fill_rect((i % PAD) as f64 * s, (i / PAD) as f64 * s, s, s);
    }
    ctx.set_stroke_style_str("#d33");
    ctx.stroke_rect(cx as f64 * s, cy as f64 * s, s, s);
}

/// A soft round brush at cell `(x, y)`, as a pen on paper: the centre full white, the rim
/// half (a pixel only ever gets brighter).
fn stamp(pixels: &mut [u8], x: usize, y: usize) {
    for dy in -1i32..=1 {
        for dx in -1i32..=1 {
            let (px, py) = (x as i32 + dx, y as i32 + dy);
            if (0..PAD as i32).contains(&px) && (0..PAD as i32).contains(&py) {
                let v = if dx == 0 && dy == 0 { 255 } else { 140 };
                let k = py as usize * PAD + px as usize;
                pixels[k] = pixels[k].max(v);
            }
        }
    }
}

/// Where an arrow key moves the pen from `(x, y)` (`None` for other keys).
fn pen_step(key: &str, (x, y): (usize, usize)) -> Option<(usize, usize)> {
    Some(match key {
        "ArrowLeft" => (x.saturating_sub(1), y),
        "ArrowRight" => ((x + 1).min(PAD - 1), y),
        "ArrowUp" => (x, y.saturating_sub(1)),
        "ArrowDown" => (x, (y + 1).min(PAD - 1)),
        _ => return None,
    })
}

/// A 28×28 drawing pad with an action button (`action_id`) that hands the pixels to
/// `on_submit`, a Clear button (`#clear-digit`), and `result` shown below them
/// (`#drawing-score`).
#[component]
pub fn DigitPad(
    explain: &'static str,
    action: &'static str,
    action_id: &'static str,
    on_submit: Callback<Vec<u8>>,
    on_clear: Callback<()>,
    result: Signal<Option<String>>,
) -> impl IntoView {
    let pixels = StoredValue::new_local(vec![0u8; PAD * PAD]);
    let cursor = RwSignal::new((PAD / 2, PAD / 2));
    let down = RwSignal::new(false);
    let repaint = move || pixels.with_value(|p| draw_pad(p, cursor.get_untracked()));
    let paint = move |x: usize, y: usize| {
        pixels.update_value(|p| stamp(p, x, y));
        cursor.set((x, y));
        repaint();
    };
    // The pad cell under a point given as fractions of the canvas.
    let paint_at = move |(fx, fy): (f64, f64)| {
        let cell = |f: f64| ((f * PAD as f64) as usize).min(PAD - 1);
        paint(cell(fx), cell(fy));
    };
    let at = move |ev: &web_sys::MouseEvent| paint_at(mouse_fraction(ev));
    let touch = move |ev: web_sys::TouchEvent| {
        ev.prevent_default();
        if let Some(p) = touch_fraction(&ev) {
            paint_at(p);
        }
    };
    // Keyboard: arrows move the pen, Space or Enter paints under it.
    let key = move |ev: web_sys::KeyboardEvent| {
        let (x, y) = cursor.get_untracked();
        let key = ev.key();
        if key == " " || key == "Enter" {
            ev.prevent_default();
            paint(x, y);
        } else if let Some(moved) = pen_step(&key, (x, y)) {
            ev.prevent_default();
            cursor.set(moved);
            repaint();
        }
    };
    Effect::new(move |_| repaint());
    view! {
        <p class="explain">{explain}</p>
        <div class="digit-pad">
            <canvas id="digit-pad" width=PAD * PAD_SCALE height=PAD * PAD_SCALE tabindex="0"
                aria-label="28 by 28 drawing pad: drag, touch, or move with the arrow keys and paint with Space"
                on:mousedown=move |ev| { down.set(true); at(&ev); }
                on:mousemove=move |ev| if down.get_untracked() { at(&ev) }
                on:mouseup=move |_| down.set(false)
                on:mouseleave=move |_| down.set(false)
                on:touchstart=touch on:touchmove=touch
                on:keydown=key></canvas>
            <div>
                <button id=action_id on:click=move |_| on_submit.run(pixels.get_value())>{action}</button>
                <button id="clear-digit" on:click=move |_| { pixels.set_value(vec![0; PAD * PAD]); on_clear.run(()); repaint(); }>"Clear"</button>
                <p id="drawing-score">{move || result.get()}</p>
            </div>
        </div>
    }
}
