//! The page's views, one file each; they read the [`Page`] context and talk to the run only
//! through [`Page::send`](super::state::Page::send) and the file actions.

mod controls;
mod drawpad;
mod model_files;
mod plots;
mod scrubber;
mod share;
mod status;

use leptos::prelude::*;

use super::config::View;
use super::image_views::ImageViews;
use super::runner::Command;
use super::state::{Page, sync_url_with_config};
use controls::{Buttons, Controls, Formula};
use drawpad::DrawPad;
use model_files::ModelFiles;
use scrubber::Scrubber;
use status::{Health, Status};

/// The page's error, when there is one (`#error`).
#[component]
fn ErrorBanner() -> impl IntoView {
    let page = expect_context::<Page>();
    move || {
        page.error
            .get()
            .map(|e| view! { <div id="error" class="error" role="alert">{e}</div> })
    }
}

/// The two modes of the page, as links in the header.
#[component]
fn ModeNav() -> impl IntoView {
    let page = expect_context::<Page>();
    let image_mode = move || page.config.with(|c| c.view.is_image());
    view! {
        <nav class="modes">
            <button id="mode-playground" aria-pressed=move || (!image_mode()).to_string()
                on:click=move |_| page.configure(|c| c.view = View::Playground)>"2D playground"</button>
            <button id="mode-images" aria-pressed=move || image_mode().to_string()
                on:click=move |_| {
                    page.send(Command::Pause);
                    page.config.update(|c| if !c.view.is_image() { c.view = View::Samples });
                }>"Image models"</button>
        </nav>
    }
}

/// The whole page (or its compact embed view).
#[component]
pub fn App() -> impl IntoView {
    let page = Page::from_url();
    provide_context(page);
    sync_url_with_config(page);
    let embed = page.config.get_untracked().embed;
    if page.config.get_untracked().autostart && !page.config.get_untracked().view.is_image() {
        page.send(Command::Train);
    }
    let notices = move || {
        let n = page.notices.get();
        (!n.is_empty())
            .then(|| view! { <div id="notices" class="notice" role="status">{n.join("; ")}</div> })
    };
    // Re-rendered only when the mode changes, not on every configuration change.
    let image_mode = Memo::new(move |_| page.config.with(|c| c.view.is_image()));
    // The playground shows its target and untrained flow before the first step, and again
    // after each configuration change.
    Effect::new(move |_| {
        page.config.track();
        if !image_mode.get() {
            page.preview();
        }
    });
    if embed {
        return view! {
            <main class="embed">
                {notices}<ErrorBanner />
                {move || if image_mode.get() {
                    view! { <ImageViews /> }.into_any()
                } else {
                    view! {
                        <canvas id="density-canvas" width="400" height="400"></canvas>
                        <Buttons />
                        <Status />
                    }.into_any()
                }}
            </main>
        }
        .into_any();
    }
    view! {
        <header>
            <h1>"flowplay"</h1>
            <p>"Train a normalizing flow in your browser and watch it learn a density, or explore pretrained image flows."</p>
            <ModeNav />
        </header>
        {notices}
        {move || if image_mode.get() {
            view! { <main class="layout images"><ErrorBanner /><ImageViews /></main> }.into_any()
        } else {
            view! { <Playground /> }.into_any()
        }}
    }
    .into_any()
}

/// The 2D playground: controls and live views.
#[component]
fn Playground() -> impl IntoView {
    let page = expect_context::<Page>();
    view! {
        <main class="layout">
            <section class="panel">
                <ErrorBanner />
                <Controls />
                <Buttons />
                <Status />
                <p class="backend-reason" id="backend-reason">{move || page.backend_reason.get()}</p>
                <Health />
                <ModelFiles />
                <Formula />
                <p class="explain">
                    "The heatmap is the flow's density q(x) = p(f(x))·|det ∂f/∂x| on a grid; white dots are samples "
                    "x = f⁻¹(z), z ~ N(0, I); red dots are the training data. Sample targets train by maximum likelihood "
                    "(forward KL), energies by reverse KL against exp(−U)."
                </p>
            </section>
            <section class="views">
                <DrawPad />
                <canvas id="density-canvas" width="480" height="480"></canvas>
                <canvas id="loss-canvas" width="480" height="260"></canvas>
                <Scrubber />
            </section>
        </main>
    }
}
