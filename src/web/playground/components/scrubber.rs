//! The layer scrubber: the samples after each layer, from noise (stage 0) to data.

use leptos::prelude::*;

use crate::web::playground::state::Page;

#[component]
pub fn Scrubber() -> impl IntoView {
    let page = expect_context::<Page>();
    let max = move || page.stage_count.get().saturating_sub(1).to_string();
    view! {
        <div class="scrubber">
            <label for="layer">"Layer-by-layer: stage "
                {move || page.layer.get().min(page.stage_count.get().saturating_sub(1))} " of " {max}</label>
            <input id="layer" type="range" min="0" max=max prop:value=move || page.layer.get().to_string()
                on:input=move |ev| {
                    if let Ok(k) = event_target_value(&ev).parse::<usize>() {
                        page.layer.set(k);
                        page.draw_stage();
                    }
                } />
            <canvas id="layer-canvas" width="480" height="360"></canvas>
        </div>
    }
}
