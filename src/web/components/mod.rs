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

use super::runner::Command;
use super::state::{Page, sync_url_with_config};
use controls::{Buttons, Controls, Formula};
use drawpad::DrawPad;
use model_files::ModelFiles;
use scrubber::Scrubber;
use status::{Health, Status};

/// The whole page (or its compact embed view).
#[component]
pub fn App() -> impl IntoView {
    let page = Page::from_url();
    provide_context(page);
    sync_url_with_config(page);
    let embed = page.config.get_untracked().embed;
    if page.config.get_untracked().autostart {
        page.send(Command::Train);
    }
    let notices = move || {
        let n = page.notices.get();
        (!n.is_empty())
            .then(|| view! { <div id="notices" class="notice" role="status">{n.join("; ")}</div> })
    };
    let error = move || {
        page.error
            .get()
            .map(|e| view! { <div id="error" class="error" role="alert">{e}</div> })
    };
    if embed {
        return view! {
            <main class="embed">
                {notices}{error}
                <canvas id="density-canvas" width="400" height="400"></canvas>
                <Buttons />
                <Status />
            </main>
        }
        .into_any();
    }
    view! {
        <header>
            <h1>"flowplay"</h1>
            <p>"Train a normalizing flow in your browser and watch it learn a density."</p>
        </header>
        <main class="layout">
            <section class="panel">
                {notices}{error}
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
    .into_any()
}
