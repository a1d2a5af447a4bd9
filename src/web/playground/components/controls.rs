//! The configuration form (target, flow, sizes, learning rate, batch, backend), the run
//! buttons and the flow family's formula.

use leptos::prelude::*;

use crate::flows::FlowKind;
use crate::targets::Target;
use crate::web::playground::driver::Command;
use crate::web::playground::state::{Page, RunStatus};
use crate::web::shell::url::{BackendPref, PageConfig};

/// A labelled `<select>` over `options`, writing the choice through `set`.
#[component]
fn Choice(
    /// Visible label.
    label: &'static str,
    /// Element id.
    id: &'static str,
    /// `(value, text)` pairs.
    options: Vec<(String, String)>,
    /// The current value.
    value: Signal<String>,
    /// Called with the new value.
    set: Callback<String>,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <select id=id on:change=move |ev| set.run(event_target_value(&ev))>
            {options
                .into_iter()
                .map(|(v, t)| {
                    let mine = v.clone();
                    view! { <option value=v prop:selected=move || value.get() == mine>{t}</option> }
                })
                .collect_view()}
        </select>
    }
}

/// A labelled number input.
#[component]
fn Number(
    label: &'static str,
    id: &'static str,
    value: Signal<String>,
    set: Callback<String>,
    #[prop(default = "1")] step: &'static str,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <input id=id type="number" step=step prop:value=move || value.get()
            on:change=move |ev| set.run(event_target_value(&ev)) />
    }
}

/// Train / Pause / Step / Reset.
#[component]
pub fn Buttons() -> impl IntoView {
    let page = expect_context::<Page>();
    let training = move || page.status.get() == RunStatus::Training;
    view! {
        <div class="buttons">
            <button id="train" on:click=move |_| page.send(Command::Train) disabled=training>"Train"</button>
            <button id="pause" on:click=move |_| page.send(Command::Pause) disabled=move || !training()>"Pause"</button>
            <button id="step" on:click=move |_| page.send(Command::Step) disabled=training>"Step"</button>
            <button id="reset" on:click=move |_| page.send(Command::Reset)>"Reset"</button>
        </div>
    }
}

/// `(value, text)` pairs with the value as the text.
fn same(names: impl IntoIterator<Item = &'static str>) -> Vec<(String, String)> {
    names
        .into_iter()
        .map(|n| (n.to_string(), n.to_string()))
        .collect()
}

/// The configuration form.
#[component]
pub fn Controls() -> impl IntoView {
    let page = expect_context::<Page>();
    let cfg = page.config;
    let mut targets = same(Target::names());
    targets.push(("draw".to_string(), "draw your own".to_string()));
    let flows = same(FlowKind::ALL.iter().map(|k| k.name()));
    let objectives: Vec<(String, String)> = crate::train::FitBy::ALL
        .iter()
        .map(|o| (o.name().to_string(), o.label().to_string()))
        .collect();
    let backends = vec![
        ("auto".to_string(), "auto".to_string()),
        ("cpu".to_string(), "CPU".to_string()),
        ("webgpu".to_string(), "WebGPU".to_string()),
    ];
    let num = move |f: fn(&PageConfig) -> String| Signal::derive(move || f(&cfg.get()));
    let notice = move |what: &str, v: &str| {
        page.notices.update(|n| {
            n.push(format!(
                "'{what}={v}' is not valid; kept the previous value"
            ))
        })
    };
    // Every number goes through `PageConfig::set`, the same parser and range as the URL's.
    let set_param = move |key: &'static str| {
        Callback::new(move |v: String| {
            let mut probe = cfg.get_untracked();
            match probe.set(key, v.trim()) {
                Ok(()) => page.configure(|c| *c = probe),
                Err(_) => notice(key, &v),
            }
        })
    };
    view! {
        <fieldset class="controls">
            <legend>"Flow"</legend>
            <Choice label="Target" id="target" options=targets
                value=num(|c| if c.drawing { "draw".to_string() } else { c.target.name().to_string() })
                set=Callback::new(move |v: String| {
                    if v == "draw" {
                        page.configure(|c| c.drawing = true);
                    } else if let Ok(t) = v.parse() {
                        page.configure(|c| { c.target = t; c.drawing = false; })
                    }
                }) />
            <Choice label="Flow" id="flow" options=flows value=num(|c| c.flow.name().to_string())
                set=Callback::new(move |v: String| if let Ok(f) = v.parse() { page.configure(|c| c.flow = f) }) />
            <Choice label="Objective" id="objective" options=objectives
                value=num(|c| c.objective.name().to_string())
                set=Callback::new(move |v: String| if let Ok(o) = v.parse() { page.configure(|c| c.objective = o) }) />
            <Number label="Layers" id="layers" value=num(|c| c.layers.to_string())
                set=set_param("layers") />
            <Number label="Hidden" id="hidden" value=num(|c| c.hidden.to_string())
                set=set_param("hidden") />
            <Number label="Learning rate" id="lr" step="0.0001" value=num(|c| c.lr.to_string())
                set=set_param("lr") />
            <Number label="Batch" id="batch" value=num(|c| c.batch.to_string())
                set=set_param("batch") />
            <Choice label="Backend" id="backend" options=backends value=num(|c| c.backend.name().to_string())
                set=Callback::new(move |v: String| {
                    let b = match v.as_str() { "cpu" => BackendPref::Cpu, "webgpu" => BackendPref::Webgpu, _ => BackendPref::Auto };
                    page.configure(|c| c.backend = b);
                    crate::web::shell::boot::reload_for(b, &page.config.with_untracked(|c| c.to_fragment()));
                }) />
        </fieldset>
    }
}

/// The formula of each flow family.
fn formula(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Planar => {
            "x = z + û·tanh(wᵀz + b),  log|det| = log|1 + (1 − tanh²)ûᵀw|  (Rezende & Mohamed 2015)"
        }
        FlowKind::Radial => "x = z + β(z − z₀)/(α + r),  r = ‖z − z₀‖  (Rezende & Mohamed 2015)",
        FlowKind::Realnvp => {
            "z = m⊙x + (1−m)⊙(x·exp(s(m⊙x)) + t(m⊙x)),  log|det| = Σ(1−m)s  (Dinh et al. 2017)"
        }
        FlowKind::Nice => {
            "z = m⊙x + (1−m)⊙(x + t(m⊙x)),  log|det| = 0, then a diagonal scaling  (Dinh et al. 2015)"
        }
        FlowKind::Maf => {
            "zᵢ = (xᵢ − μᵢ(x<ᵢ))·exp(−aᵢ(x<ᵢ)), one pass for density  (Papamakarios et al. 2017)"
        }
        FlowKind::Iaf => {
            "xᵢ = zᵢ·exp(aᵢ(z<ᵢ)) + μᵢ(z<ᵢ), one pass for sampling  (Kingma et al. 2016)"
        }
        FlowKind::Nsf => {
            "monotone rational-quadratic splines with K bins on [−B, B], identity tails  (Durkan et al. 2019)"
        }
        FlowKind::NsfAr => {
            "zᵢ = RQ-spline(xᵢ; θᵢ(x<ᵢ)), K bins on [−B, B]: the autoregressive neural spline flow  (Durkan et al. 2019)"
        }
        FlowKind::Mbank => {
            "u = atanh((x − c)/h) on a learnt box, then N × (LU linear, MAF): mbank's standard flow  (Schmidt et al. 2024)"
        }
        FlowKind::Cnf => {
            "dx/dt = v(x, t) from noise (t = 0) to data (t = 1),  log p(x) = log N(z) − ∫₀¹ tr ∂v/∂x dt; objective kl = FFJORD, flow matching regresses v onto x₁ − x₀  (Chen et al. 2018; Lipman et al. 2023)"
        }
    }
}

/// The chosen flow family's formula, under the controls.
#[component]
pub fn Formula() -> impl IntoView {
    let page = expect_context::<Page>();
    view! { <p class="formula" id="formula">{move || formula(page.config.get().flow)}</p> }
}
