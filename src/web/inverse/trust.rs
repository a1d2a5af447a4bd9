//! Whether to trust the draws shown: how typical the observation is among the simulations the
//! posterior was trained on (a warning outside 99 % of them), and the switch that draws the
//! posterior corrected by importance weights against the problem's known likelihood, with its
//! effective sample size ([`crate::inverse::predictive`], [`crate::inverse::reweight`]).

use leptos::prelude::*;

use super::state::InversePage;
use crate::inverse::predictive::{Typicality, WARN_QUANTILE};
use crate::inverse::reweight::MIN_RELIABLE_ESS;
use crate::web::shell::context::Shell;

/// The typicality line for a visitor.
fn typicality_text(t: Typicality, corrected: bool) -> String {
    let share = 100.0 * t.quantile;
    if !t.warning {
        return format!(
            "y is within what the posterior was trained on: {share:.1} % of the simulated observations are less likely."
        );
    }
    let advice = if corrected {
        "the draws shown are corrected with the known likelihood."
    } else {
        "the blue draws may be far from the true posterior; tick the correction below."
    };
    format!(
        "y lies outside what the posterior was trained on: fewer than {} % of the simulated observations are this unlikely ({share:.1} %) — {advice}",
        100.0 * WARN_QUANTILE
    )
}

/// The correction's line: its effective sample size, or why there is none.
fn correction_text(c: Result<f64, String>) -> String {
    match c {
        Ok(ess) if ess < MIN_RELIABLE_ESS => format!(
            "Corrected by importance weights, but only {ess:.0} effective draws: the flow hardly covers the posterior here."
        ),
        Ok(ess) => format!("Corrected by importance weights: effective sample size {ess:.0}."),
        Err(why) => format!("No correction: {why}."),
    }
}

/// The typicality line (a warning when the observation is atypical), the correction switch
/// (not in the embed view) and the correction's line.
#[component]
pub fn TrustPanel(state: InversePage, embed: bool) -> impl IntoView {
    let page = expect_context::<Shell>();
    let corrected = move || matches!(state.correction.get(), Some(Ok(_)));
    let typicality = move || {
        state.typicality.get().map(|t| {
            let class = if t.warning { "warning" } else { "typical" };
            view! {
                <p id="inverse-typicality" class=class data-warning=t.warning.to_string()>
                    {typicality_text(t, corrected())}
                </p>
            }
        })
    };
    let toggle = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        page.config.update(|c| c.inverse.reweight = on);
    };
    let switch = (!embed).then(|| {
        view! {
            <label>
                <input type="checkbox" id="inverse-reweight"
                    prop:checked=move || page.config.with(|c| c.inverse.reweight)
                    on:change=toggle />
                " Correct with the known likelihood (importance weights)"
            </label>
        }
    });
    view! {
        <div class="trust-panel">
            {typicality}
            {switch}
            {move || state.correction.get().map(|c| view! { <p id="inverse-correction">{correction_text(c)}</p> })}
        </div>
    }
}
