//! The page's views, one file each; they read the [`Page`] context and talk to the run only
//! through [`Page::send`] and the file actions.

mod controls;
mod drawpad;
mod model_files;
mod plots;
mod scrubber;
mod share;
mod status;

use leptos::prelude::*;

use super::config::View;
use super::driver::Command;
use super::image_views::ImageViews;
use super::inverse_view::InverseView;
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

/// The page's three modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Playground,
    Images,
    Inverse,
}

impl Mode {
    fn of(view: View) -> Self {
        if view.is_image() {
            Self::Images
        } else if view == View::Inverse {
            Self::Inverse
        } else {
            Self::Playground
        }
    }
}

/// The modes of the page, as buttons in the header.
#[component]
fn ModeNav() -> impl IntoView {
    let page = expect_context::<Page>();
    let mode = move || page.config.with(|c| Mode::of(c.view));
    let pressed = move |m: Mode| move || (mode() == m).to_string();
    view! {
        <nav class="modes">
            <button id="mode-playground" aria-pressed=pressed(Mode::Playground)
                on:click=move |_| page.configure(|c| c.view = View::Playground)>"2D playground"</button>
            <button id="mode-images" aria-pressed=pressed(Mode::Images)
                on:click=move |_| {
                    page.send(Command::Pause);
                    page.config.update(|c| if !c.view.is_image() { c.view = View::Samples });
                }>"Image models"</button>
            <button id="mode-inverse" aria-pressed=pressed(Mode::Inverse)
                on:click=move |_| {
                    page.send(Command::Pause);
                    page.config.update(|c| c.view = View::Inverse);
                }>"Inverse problems"</button>
        </nav>
    }
}

/// The whole page (or its compact embed view).
#[component]
pub fn App() -> impl IntoView {
    let page = Page::from_url();
    page.open_link();
    provide_context(page);
    sync_url_with_config(page);
    let embed = page.config.get_untracked().embed;
    if page.config.get_untracked().autostart && page.config.get_untracked().view == View::Playground
    {
        page.send(Command::Train);
    }
    let notices = move || {
        let n = page.notices.get();
        (!n.is_empty())
            .then(|| view! { <div id="notices" class="notice" role="status">{n.join("; ")}</div> })
    };
    // Re-rendered only when the mode changes, not on every configuration change.
    let mode = Memo::new(move |_| page.config.with(|c| Mode::of(c.view)));
    // The playground shows its target and untrained flow before the first step, and again
    // after each configuration change.
    Effect::new(move |_| {
        page.config.track();
        if mode.get() == Mode::Playground {
            page.preview();
        }
    });
    if embed {
        return view! {
            <main class="embed">
                {notices}<ErrorBanner />
                {move || match mode.get() {
                    Mode::Images => view! { <ImageViews /> }.into_any(),
                    Mode::Inverse => view! { <InverseView /> }.into_any(),
                    Mode::Playground => view! {
                        <canvas id="density-canvas" width="400" height="400"></canvas>
                        <Buttons />
                        <Status />
                    }.into_any(),
                }}
            </main>
        }
        .into_any();
    }
    view! {
        <header>
            <h1>"flowplay"</h1>
            <p>"Train a normalizing flow in your browser and watch it learn a density, explore pretrained image flows, or solve inverse problems with amortised posteriors."</p>
            <ModeNav />
        </header>
        {notices}
        {move || match mode.get() {
            Mode::Images => view! { <main class="layout images"><ErrorBanner /><ImageViews /></main> }.into_any(),
            Mode::Inverse => view! { <main class="layout inverse"><ErrorBanner /><InverseView /></main> }.into_any(),
            Mode::Playground => view! { <Playground /> }.into_any(),
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
