//! The 2D playground's page: its controls, status and health beside the live views.

use leptos::prelude::*;

use super::components::controls::{Buttons, Controls, Formula};
use super::components::drawpad::DrawPad;
use super::components::model_files::ModelFiles;
use super::components::scrubber::Scrubber;
use super::components::status::{ErrorBanner, Health, Status};
use super::state::Page;

/// The 2D playground: controls and live views.
#[component]
pub fn PlaygroundView() -> impl IntoView {
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
