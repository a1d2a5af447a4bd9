//! The page: the four modes behind a header of mode buttons (or the compact embed view), the
//! page-wide notices and error. Each mode is a wing of its own ([`crate::web::playground`],
//! [`crate::web::images`], [`crate::web::inverse`], [`crate::web::papers`]) over the shared
//! [`crate::web::shell`].

use leptos::prelude::*;

use crate::web::images::ImageViews;
use crate::web::inverse::view::InverseView;
use crate::web::papers::view::PapersView;
use crate::web::playground::components::controls::Buttons;
use crate::web::playground::components::status::{ErrorBanner, Status};
use crate::web::playground::driver::Command;
use crate::web::playground::state::Page;
use crate::web::playground::view::PlaygroundView;
use crate::web::shell::context::{Shell, sync_url_with_config};
use crate::web::shell::url::View;

/// The page's four modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Playground,
    Images,
    Inverse,
    Papers,
}

impl Mode {
    fn of(view: View) -> Self {
        if view.is_image() {
            Self::Images
        } else if view == View::Inverse {
            Self::Inverse
        } else if view == View::Papers {
            Self::Papers
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
            <button id="mode-papers" aria-pressed=pressed(Mode::Papers)
                on:click=move |_| {
                    page.send(Command::Pause);
                    page.config.update(|c| c.view = View::Papers);
                }>"Papers"</button>
        </nav>
    }
}

/// The whole page (or its compact embed view).
#[component]
pub fn App() -> impl IntoView {
    let shell = Shell::from_url();
    provide_context(shell);
    sync_url_with_config(shell);
    let page = Page::new(shell);
    page.open_link();
    provide_context(page);
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
                    Mode::Papers => view! { <PapersView /> }.into_any(),
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
            <p>"Train a normalizing flow in your browser and watch it learn a density, explore pretrained image flows, solve inverse problems with amortised posteriors, or re-run a paper's figure."</p>
            <ModeNav />
        </header>
        {notices}
        {move || match mode.get() {
            Mode::Images => view! { <main class="layout images"><ErrorBanner /><ImageViews /></main> }.into_any(),
            Mode::Inverse => view! { <main class="layout inverse"><ErrorBanner /><InverseView /></main> }.into_any(),
            Mode::Papers => view! { <main class="layout papers"><ErrorBanner /><PapersView /></main> }.into_any(),
            Mode::Playground => view! { <PlaygroundView /> }.into_any(),
        }}
    }
    .into_any()
}
