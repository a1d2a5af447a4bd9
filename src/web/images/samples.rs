//! Samples: a grid drawn at a temperature, in slices of a few images so that Stop (and every
//! other control) answers while the model works.

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::canvas::draw_images;
use super::state::{ImagePage, Work};
use crate::explore::latent::sample_classes;
use crate::rng::Rng;
use crate::web::shell::context::Shell;
use crate::web::shell::host::now_ms;

/// Samples in the grid (8×8).
pub const GRID: usize = 64;
/// Images decoded per slice between turns of the event loop.
const SLICE: usize = 4;

/// Draws [`GRID`] samples at the configured temperature and seed.
pub fn draw_samples(page: Shell, images: ImagePage) {
    let Some(model) = images.model() else {
        return;
    };
    let cfg = page.config.get_untracked();
    let (temperature, seed) = (cfg.images.temperature, cfg.seed);
    let generation = images.begin();
    images.samples_drawn.set(0);
    spawn_local(async move {
        let t0 = now_ms();
        let mut rng = Rng::new(seed);
        let mut drawn: Vec<Vec<f32>> = Vec::with_capacity(GRID);
        while drawn.len() < GRID {
            let n = SLICE.min(GRID - drawn.len());
            let labels = (model.flow.config().classes())
                .map(|k| crate::explore::latent::grid_labels(drawn.len(), n, k));
            let batch = sample_classes(
                &model.flow,
                n,
                temperature,
                labels.as_deref(),
                &mut rng,
                &model.device,
            );
            match batch.await {
                Ok(batch) => drawn.extend(batch),
                Err(e) => return images.fail(format!("sampling failed: {e}")),
            }
            if !images.current(generation) {
                return;
            }
            images.progress.set(drawn.len() as f64 / GRID as f64);
            if let Err(e) = draw_images("samples-canvas", &drawn, model.shape, 8, 3) {
                return images.fail(e);
            }
            images.samples_drawn.set(drawn.len());
            TimeoutFuture::new(0).await;
        }
        images.took_ms.set(Some(now_ms() - t0));
        images.work.set(Work::Done);
    });
}

/// The samples view.
#[component]
pub fn SamplesView() -> impl IntoView {
    let page = expect_context::<Shell>();
    let images = expect_context::<ImagePage>();
    // Draw once the model is there, and again whenever it changes.
    Effect::new(move |_| {
        if images.loaded.get() > 0 {
            draw_samples(page, images);
        }
    });
    let temperature = move || page.config.with(|c| c.images.temperature);
    view! {
        <p class="explain">
            "Samples x = f⁻¹(T·ε), ε ~ N(0, I): the temperature T scales the base noise (Glow's reduced-temperature \
             sampling). Lower T gives more typical, smoother images; T = 1 samples the model itself."
        </p>
        <div class="image-controls">
            <label for="temperature">"Temperature " {move || format!("{:.2}", temperature())}</label>
            <input id="temperature" type="range" min="0" max="1.2" step="0.05"
                prop:value=move || temperature().to_string()
                on:change=move |ev| {
                    if let Ok(t) = event_target_value(&ev).parse::<f32>() {
                        page.config.update(|c| c.images.temperature = t.clamp(0.0, 1.2));
                        draw_samples(page, images);
                    }
                } />
            <button id="new-samples" on:click=move |_| {
                page.config.update(|c| c.seed = c.seed.wrapping_add(1));
                draw_samples(page, images);
            }>"New samples"</button>
        </div>
        <canvas id="samples-canvas" width="490" height="490"></canvas>
    }
}
