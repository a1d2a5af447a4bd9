//! The page's second mode, "Image models": a gallery of the site's pretrained image flows (and
//! any `.flow` a visitor imports), explored in five views — samples at a temperature, latent
//! interpolation, latent arithmetic, anomaly detection, and (for a class-conditional model)
//! generative classification. Every view has a URL
//! (`#view=samples&model=mnist-glow-small&temperature=0.9&seed=3`) and works embedded.
//!
//! Work runs in slices between turns of the browser's event loop, so Stop and every other
//! control answer while a model samples or scores.

mod anomaly;
mod arithmetic;
mod canvas;
mod classify;
mod digit_pad;
mod interpolate;
mod load;
mod samples;
mod state;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::web::shell::context::Shell;
use crate::web::shell::files::read_file;
use crate::web::shell::url::{ImageViewConfig, View};
use anomaly::AnomalyView;
use arithmetic::ArithmeticView;
use classify::ClassifyView;
use interpolate::InterpolateView;
use samples::SamplesView;
pub use state::{ImagePage, Work};

/// `<output id="flow-status">` for the image views: `data-state`, `data-view`, `data-model`,
/// `data-samples` (images drawn), `data-auroc` (anomaly view, when done), `data-backend`.
#[component]
fn ImageStatus() -> impl IntoView {
    let page = expect_context::<Shell>();
    let images = expect_context::<ImagePage>();
    let auroc = move || {
        images
            .auroc
            .get()
            .map(|a| format!("{a:.6}"))
            .unwrap_or_default()
    };
    view! {
        <output id="flow-status" aria-live="polite"
            data-state=move || images.work.get().name()
            data-view=move || page.config.with(|c| c.view.name())
            data-model=move || images.model_name.get()
            data-samples=move || images.samples_drawn.get().to_string()
            data-auroc=auroc
            data-backend=move || images.backend.get()>
            {move || images.work.get().name()} " · " {move || images.model_name.get()}
            {move || images.took_ms.get().map(|t| format!(" · {t:.0} ms"))}
            {move || (!images.backend.get().is_empty()).then(|| format!(" · {}", images.backend.get()))}
        </output>
        <progress id="work-progress" max="1"
            style:visibility=move || if matches!(images.work.get(), Work::Working | Work::Loading) { "visible" } else { "hidden" }
            prop:value=move || images.progress.get()></progress>
        <button id="stop" on:click=move |_| images.stop()
            disabled=move || images.work.get() != Work::Working>"Stop"</button>
        {move || images.error.get().map(|e| view! { <div id="image-error" class="error" role="alert">{e}</div> })}
    }
}

/// The gallery: one button per image model of the index, and Import.
#[component]
fn Gallery() -> impl IntoView {
    let page = expect_context::<Shell>();
    let images = expect_context::<ImagePage>();
    let choose = move |name: String| images.choose(page, name);
    let load_file = move |file: web_sys::File| {
        let pref = page.config.with_untracked(|c| c.backend);
        spawn_local(async move {
            let name = file.name();
            match read_file(file).await {
                Ok(bytes) => images.load_bytes(bytes, name, pref).await,
                Err(e) => images.fail(e),
            }
        });
    };
    let import = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            load_file(file);
        }
    };
    // A `.flow` dropped anywhere on the gallery loads like an imported one.
    let drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        let files = js_sys::Reflect::get(&ev, &"dataTransfer".into())
            .and_then(|dt| js_sys::Reflect::get(&dt, &"files".into()))
            .ok()
            .filter(|f| !f.is_undefined() && !f.is_null())
            .map(wasm_bindgen::JsCast::unchecked_into::<web_sys::FileList>);
        if let Some(file) = files.and_then(|f| f.get(0)) {
            load_file(file);
        }
    };
    let entries = move || {
        images
            .index
            .get()
            .map(|i| i.image_models().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    view! {
        <div class="gallery" id="gallery"
            on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default()
            on:drop=drop>
            <For each=entries key=|e| e.file.clone() let:e>
                {
                    let stem = e.file.trim_end_matches(".flow").to_string();
                    let id = format!("model-{stem}");
                    let chosen = stem.clone();
                    let current = stem.clone();
                    let facts = format!(
                        "{} · {} · {} parameters{} · {:.1} MB",
                        e.dataset.clone().unwrap_or_default(),
                        e.shape.map(|s| s.to_string()).unwrap_or_default(),
                        e.params,
                        e.test_bpd.map(|b| format!(" · test {b:.3} bits/dim")).unwrap_or_default(),
                        e.bytes as f64 / 1e6
                    );
                    view! {
                        <button id=id class="model-card"
                            class:selected=move || images.model_name.get() == current
                            on:click=move |_| choose(chosen.clone())>
                            <strong>{e.title.clone()}</strong><br/><small>{facts}</small>
                        </button>
                    }
                }
            </For>
            <label for="import-image">"Import (or drop) a .flow"</label>
            <input id="import-image" type="file" accept=".flow" on:change=import />
        </div>
        <p class="download" style:display=move || if images.work.get() == Work::Loading { "block" } else { "none" }>
            {move || match images.download_bytes.get() {
                Some(b) => format!(
                    "downloading the model: {:.1} of {:.1} MB, then the test subsets…",
                    images.downloaded.get() as f64 / 1e6,
                    b as f64 / 1e6
                ),
                None => format!("downloading: {:.1} MB…", images.downloaded.get() as f64 / 1e6),
            }}
        </p>
    }
}

/// The view tabs.
#[component]
fn Tabs() -> impl IntoView {
    let page = expect_context::<Shell>();
    let label = |v: View| match v {
        View::Samples => "Samples",
        View::Interpolate => "Interpolate",
        View::Arithmetic => "Latent arithmetic",
        View::Anomaly => "Anomaly detection",
        View::Classify => "Classify",
        View::Playground | View::Inverse | View::Papers => "",
    };
    view! {
        <div class="tabs" role="tablist">
            {View::IMAGE_VIEWS.into_iter().map(|v| view! {
                <button role="tab" id=format!("tab-{}", v.name())
                    aria-selected=move || (page.config.with(|c| c.view) == v).to_string()
                    on:click=move |_| page.config.update(|c| c.view = v)>{label(v)}</button>
            }).collect_view()}
        </div>
    }
}

/// The image mode: gallery, tabs, the chosen view, status (or just the view when embedded).
#[component]
pub fn ImageViews() -> impl IntoView {
    let page = expect_context::<Shell>();
    let images = ImagePage::new();
    provide_context(images);
    spawn_local(async move {
        match load::fetch_index().await {
            Ok(index) => images.index.set(Some(index)),
            Err(e) => images.fail(e),
        }
        let (mut name, pref) = page
            .config
            .with_untracked(|c| (c.images.model.clone(), c.backend));
        // A link may name a model this site does not serve: say so, and show the default.
        let known = images.index.with_untracked(|i| {
            i.as_ref().map(|i| {
                let files: Vec<String> = i.image_models().map(|m| m.file.clone()).collect();
                (i.find(&name).is_some(), files)
            })
        });
        if let Some((false, files)) = known {
            let fallback = ImageViewConfig::default().model;
            page.notices.update(|n| {
                n.push(format!(
                    "no model '{name}' here ({}); showing {fallback}",
                    files.join(", ")
                ))
            });
            page.config.update(|c| c.images.model = fallback.clone());
            name = fallback;
        }
        images.load_named(name, pref).await;
    });
    let view = Memo::new(move |_| page.config.with(|c| c.view));
    let embed = page.config.with_untracked(|c| c.embed);
    let body = move || match view.get() {
        View::Samples => view! { <SamplesView /> }.into_any(),
        View::Interpolate => view! { <InterpolateView /> }.into_any(),
        View::Arithmetic => view! { <ArithmeticView /> }.into_any(),
        View::Classify => view! { <ClassifyView /> }.into_any(),
        View::Anomaly | View::Playground | View::Inverse | View::Papers => {
            view! { <AnomalyView /> }.into_any()
        }
    };
    view! {
        <section class="image-views">
            {(!embed).then(|| view! { <Gallery /><Tabs /> })}
            <ImageStatus />
            {body}
        </section>
    }
}
