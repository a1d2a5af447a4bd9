//! The run's status line (machine-readable for embedding hosts and tests), its health
//! readout, and the error banner the page shows in every mode.

use leptos::prelude::*;

use crate::web::playground::state::Page;

/// `<output id="flow-status">`: machine-readable state for embedding hosts and tests.
#[component]
pub fn Status() -> impl IntoView {
    let page = expect_context::<Page>();
    let fmt_loss = move || {
        page.loss
            .get()
            .map(|v| format!("{v:.4}"))
            .unwrap_or_default()
    };
    let fmt_val = move || {
        page.val_nll
            .get()
            .map(|v| format!("{v:.4}"))
            .unwrap_or_default()
    };
    view! {
        <output id="flow-status" aria-live="polite"
            data-state=move || page.status.get().name()
            data-backend=move || page.backend.get()
            data-trains-in=move || page.trains_in.get()
            data-step=move || page.steps_done.get().to_string()
            data-loss=fmt_loss
            data-val-nll=fmt_val>
            {move || page.status.get().name()} " · step " {move || page.steps_done.get()}
            " · loss " {fmt_loss}
            {move || page.val_nll.get().map(|v| format!(" · validation NLL {v:.4}"))}
            {move || (!page.backend.get().is_empty()).then(|| format!(" · {} ({:.0} steps/s)", page.backend.get(), page.steps_per_sec.get()))}
        </output>
    }
}

/// NaN events, inversion error, largest log-det, redraw time.
#[component]
pub fn Health() -> impl IntoView {
    let page = expect_context::<Page>();
    view! {
        <dl class="health">
            <dt>"NaN/Inf steps rolled back"</dt><dd id="nan-events">{move || page.nan_events.get()}</dd>
            <dt>"max ‖f⁻¹(f(x)) − x‖"</dt>
            <dd id="inversion-error">{move || page.inversion_error.get().map(|e| format!("{e:.2e}")).unwrap_or_else(|| "–".into())}</dd>
            <dt>"largest per-layer |log det|"</dt>
            <dd id="max-log-scale">{move || page.max_log_scale.get().map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())}</dd>
            <dt>"redraw time"</dt><dd id="draw-ms">{move || format!("{:.0} ms", page.draw_ms.get())}</dd>
            <dt>"heatmap"</dt>
            <dd id="grid-refresh" data-stride=move || page.grid_stride.get().to_string()>{move || {
                let res = crate::web::playground::session::GRID_RES;
                match page.grid_stride.get() {
                    1 => format!("{res}×{res}, every cell each frame"),
                    s => format!("{res}×{res}, 1/{} of the cells each frame", s * s),
                }
            }}</dd>
            <dt>"training runs in"</dt>
            <dd id="trains-in">{move || match page.trains_in.get() {
                "worker" => "a Web Worker (the page stays responsive)",
                "page" => "the page's own thread (no worker could start)",
                _ => "–",
            }}</dd>
        </dl>
    }
}

/// The page's error, when there is one (`#error`).
#[component]
pub fn ErrorBanner() -> impl IntoView {
    let page = expect_context::<Page>();
    move || {
        page.error
            .get()
            .map(|e| view! { <div id="error" class="error" role="alert">{e}</div> })
    }
}
