//! Latent arithmetic (Glow's attribute sliders, for digits and garments): an image's code moved
//! along `μ_to − μ_from`, the difference of two class means over the bundled labelled subset.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::canvas::draw_images;
use super::state::{ImagePage, Work};
use crate::explore::latent::{class_means, decode, encode, pick, reconstruction_error, shift};
use crate::web::shell::context::Shell;
use crate::web::shell::host::now_ms;

/// Steps shown from `α = 0` to the chosen `α`.
const STEPS: usize = 6;

/// Encodes the subset (once per model), then draws image `a` moved towards class `to`.
pub fn draw_arithmetic(page: Shell, images: ImagePage) {
    let (Some(model), Some(data)) = (images.model(), images.data()) else {
        return;
    };
    let cfg = page.config.get_untracked();
    let a = match pick(cfg.images.a, data.inliers.len()) {
        Ok(a) => a,
        Err(e) => return images.fail(e),
    };
    let (to, alpha) = (cfg.images.to as usize, cfg.images.alpha);
    let generation = images.begin();
    spawn_local(async move {
        let t0 = now_ms();
        let means = match images.class_means.get_value() {
            Some(m) => m,
            None => {
                let n = data.inliers.len();
                let mut codes = Vec::with_capacity(n);
                let all: Vec<usize> = (0..n).collect();
                for chunk in all.chunks(50) {
                    match encode(&model.flow, &data.inliers, chunk, &model.device).await {
                        Ok(c) => codes.extend(c),
                        Err(e) => return images.fail(format!("encoding failed: {e}")),
                    }
                    if !images.current(generation) {
                        return;
                    }
                    images.progress.set(codes.len() as f64 / n as f64);
                    gloo_timers::future::TimeoutFuture::new(0).await;
                }
                let m = std::rc::Rc::new(class_means(&codes, &data.inliers.labels, 10));
                images.class_means.set_value(Some(m.clone()));
                m
            }
        };
        let from = data.inliers.labels[a] as usize;
        let (Some(mu_from), Some(mu_to)) = (means[from].clone(), means[to.min(9)].clone()) else {
            return images.fail(format!("the subset has no image of class {from} or {to}"));
        };
        let z = match encode(&model.flow, &data.inliers, &[a], &model.device).await {
            Ok(mut c) => c.remove(0),
            Err(e) => return images.fail(format!("encoding failed: {e}")),
        };
        let codes: Vec<Vec<f32>> = (0..STEPS)
            .map(|k| shift(&z, &mu_from, &mu_to, alpha * k as f32 / (STEPS - 1) as f32))
            .collect();
        let decoded = match decode(&model.flow, &codes, &model.device).await {
            Ok(d) => d,
            Err(e) => return images.fail(format!("decoding failed: {e}")),
        };
        if !images.current(generation) {
            return;
        }
        if let Err(e) = draw_images("arith-canvas", &decoded, model.shape, STEPS, 4) {
            return images.fail(e);
        }
        images.from_class.set(Some(from as u8));
        let first = &decoded[0];
        let moved = first
            .iter()
            .zip(&decoded[STEPS - 1])
            .map(|(a, b)| (a - b).abs() as f64)
            .sum::<f64>()
            / first.len().max(1) as f64;
        let recon = reconstruction_error(first, data.inliers.image(a));
        images.arith_figures.set(Some((recon, moved)));
        images.samples_drawn.set(decoded.len());
        images.took_ms.set(Some(now_ms() - t0));
        images.work.set(Work::Done);
    });
}

#[component]
pub fn ArithmeticView() -> impl IntoView {
    let page = expect_context::<Shell>();
    let images = expect_context::<ImagePage>();
    Effect::new(move |_| {
        if images.loaded.get() > 0 {
            draw_arithmetic(page, images);
        }
    });
    let get = move |f: fn(&crate::web::shell::url::ImageViewConfig) -> String| {
        move || page.config.with(|c| f(&c.images))
    };
    let set = move |key: &'static str| {
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            let mut probe = page.config.get_untracked();
            if probe.set(key, v.trim()).is_ok() {
                page.config.set(probe);
                draw_arithmetic(page, images);
            }
        }
    };
    view! {
        <p class="explain">
            "The image's code z moves along μ_to − μ_from, the difference of the mean codes of two classes in the \
             bundled test subset: z + α·(μ_to − μ_from), decoded for α from 0 (the image itself) to the slider's value."
        </p>
        <div class="image-controls">
            <label for="arith-a">"Image"</label>
            <input id="arith-a" type="number" min="0" max="499" prop:value=get(|i| i.a.to_string()) on:change=set("a") />
            <label for="arith-to">"Towards class"</label>
            <input id="arith-to" type="number" min="0" max="9" prop:value=get(|i| i.to.to_string()) on:change=set("to") />
            <label for="arith-alpha">"α " {get(|i| format!("{:.2}", i.alpha))}</label>
            <input id="arith-alpha" type="range" min="-2" max="2" step="0.05" prop:value=get(|i| i.alpha.to_string()) on:change=set("alpha") />
        </div>
        <p>{move || images.from_class.get().map(|c| format!("from class {c} towards class {}", page.config.with(|x| x.images.to)))}</p>
        <canvas id="arith-canvas" width="700" height="120"></canvas>
        {move || images.arith_figures.get().map(|(recon, moved)| view! {
            <p id="arith-figures" data-recon=format!("{recon:e}") data-moved=format!("{moved:.4}")>
                {format!("α = 0 reproduces the image to {recon:.1e} mean |Δpixel|; the last frame moved {moved:.3} from it")}
            </p>
        })}
    }
}
