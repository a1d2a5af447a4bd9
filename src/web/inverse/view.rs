//! The page's third mode, "Inverse problems": a pretrained amortised posterior `q(θ | y)`
//! (`models/<problem>-posterior.flow`, trained by `flowplay fit-posterior`) answers for any
//! observation at once. Drag the arm's target point (or move the sliders of the 2D problems)
//! and the posterior draws follow ([`super::paint`]); beside them, how typical the observation
//! is among the simulations the posterior was trained on, and a switch that corrects the draws
//! by importance weights against the known likelihood ([`super::trust`]).
//!
//! `#view=inverse&problem=arm&y=0.5,1.5&samples=300&reweight=1`; `#flow-status` reports
//! `data-state` (`loading`, `sampling`, `ready`, `error`), `data-problem`,
//! `data-observation`, `data-samples`, `data-resim` (the draws' mean re-simulation error
//! `‖f(θ̂) − y‖`), `data-mean` (the draws' mean θ), `data-quantile` and `data-warning` (the
//! observation's typicality) and `data-ess` (the correction's effective sample size, when the
//! draws are corrected).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::paint::{CANVAS, arm_point};
use super::state::{InversePage, Phase, observation};
use super::trust::TrustPanel;
use crate::inverse::Problem;
use crate::inverse::problems::ARM_SEGMENTS;
use crate::web::shell::canvas::{mouse_fraction, touch_fraction};
use crate::web::shell::context::Shell;

/// A slider for one coordinate of the observation (the 2D problems).
#[component]
fn ObservationSlider(index: usize, name: &'static str, lo: f64, hi: f64) -> impl IntoView {
    let page = expect_context::<Shell>();
    let value = move || {
        page.config
            .with(|c| c.inverse.observation().get(index).copied().unwrap_or(0.0))
    };
    let set = move |ev: leptos::ev::Event| {
        if let Ok(v) = event_target_value(&ev).parse::<f64>() {
            page.config.update(|c| {
                let mut y = c.inverse.observation();
                if let Some(slot) = y.get_mut(index) {
                    *slot = v;
                }
                c.inverse.y = Some(y);
            });
        }
    };
    view! {
        <label for=format!("obs-{index}")>{name}" = "{move || format!("{:.2}", value())}</label>
        <input id=format!("obs-{index}") type="range" min=lo max=hi step="0.01"
            prop:value=move || value().to_string() on:input=set />
    }
}

/// What the view says of `problem` under the picture.
fn explanation(problem: Problem) -> String {
    match problem {
        Problem::Arm => format!(
            "A planar arm on a vertical rail: base height x1 and three joint angles (segments {:?}) place its \
             end point y. Many configurations reach one point, so the posterior p(θ | y) is a whole family. \
             Drag the red target (or focus the picture and use the arrow keys): each blue arm is one draw from \
             the learned posterior q(θ | y) — no training happens here, the flow was trained once on simulations \
             and answers for any y (amortised inference).",
            ARM_SEGMENTS
        ),
        Problem::LinearGaussian => "y = Aθ + noise with an ill-conditioned A: the data pin θ1 + θ2 down and say almost \
             nothing about θ1 − θ2. Blue: draws from the learned q(θ | y); red: the exact posterior's 2σ ellipse."
            .to_string(),
        Problem::Ring => "y = ‖θ‖ + noise: every direction fits, so the posterior is a ring. Blue: draws from the \
             learned q(θ | y); red: the circle ‖θ‖ = y."
            .to_string(),
    }
}

/// The problem picker, the observation's sliders (the 2D problems) and the explanation; not
/// in the embed view.
#[component]
fn ProblemControls(problem: Memo<Problem>) -> impl IntoView {
    let page = expect_context::<Shell>();
    let choose = move |ev: leptos::ev::Event| {
        if let Ok(p) = event_target_value(&ev).parse::<Problem>() {
            page.config.update(|c| {
                c.inverse.problem = p;
                c.inverse.y = None;
            });
        }
    };
    let sliders = move || match problem.get() {
        Problem::Arm => ().into_any(),
        Problem::LinearGaussian => view! {
            <ObservationSlider index=0 name="y1" lo=-4.0 hi=4.0 />
            <ObservationSlider index=1 name="y2" lo=-4.0 hi=4.0 />
        }
        .into_any(),
        Problem::Ring => view! { <ObservationSlider index=0 name="y" lo=0.0 hi=3.5 /> }.into_any(),
    };
    view! {
        <div class="image-controls">
            <label for="problem">"Problem"</label>
            <select id="problem" on:change=choose>
                {Problem::all().into_iter().map(|p| view! {
                    <option value=p.name() prop:selected=move || problem.get() == p>{p.name()}</option>
                }).collect_view()}
            </select>
            {sliders}
        </div>
        <p class="explain">{move || explanation(problem.get())}</p>
    }
}

/// `#flow-status`: the view's phase, the problem, the observation, the draws shown, their
/// mean and mean re-simulation error, the observation's typicality and the correction's ESS,
/// for readers and embedding hosts.
#[component]
fn InverseStatus(state: InversePage, problem: Memo<Problem>) -> impl IntoView {
    let page = expect_context::<Shell>();
    // Rendering only reads the configuration; `observation(page)` (which may correct a bad
    // link and post a notice) runs when draws are requested.
    let observed = move || {
        let y = page.config.with(|c| c.inverse.observation());
        let parts: Vec<String> = y.iter().map(|v| format!("{v:.3}")).collect();
        parts.join(",")
    };
    view! {
        <output id="flow-status" aria-live="polite"
            data-state=move || state.phase.get().name()
            data-view="inverse"
            data-problem=move || problem.get().name()
            data-observation=observed
            data-samples=move || (state.draws.get().len() / problem.get().theta_dim()).to_string()
            data-resim=move || state.resim.get().map(|r| format!("{r:.4}")).unwrap_or_default()
            data-mean=move || mean_of(&state.draws.get(), problem.get().theta_dim())
            data-quantile=move || state.typicality.get().map(|t| format!("{:.4}", t.quantile)).unwrap_or_default()
            data-warning=move || state.typicality.get().is_some_and(|t| t.warning).to_string()
            data-ess=move || match state.correction.get() { Some(Ok(ess)) => format!("{ess:.0}"), _ => String::new() }
            data-backend="cpu">
            {move || state.phase.get().name()} " · " {move || problem.get().name()} " · y = " {observed}
            {move || state.resim.get().map(|r| format!(" · mean ‖f(θ̂) − y‖ = {r:.3}"))}
            {move || state.took_ms.get().map(|t| format!(" · {t:.0} ms"))}
        </output>
    }
}

/// The mean of `draws [n, d]` per coordinate, 4 decimals, comma-separated.
fn mean_of(draws: &[f64], d: usize) -> String {
    let n = (draws.len() / d).max(1) as f64;
    let parts: Vec<String> = (0..d)
        .map(|j| draws.iter().skip(j).step_by(d).sum::<f64>() / n)
        .map(|m| format!("{m:.4}"))
        .collect();
    parts.join(",")
}

/// The posterior's picture; for the arm, its target follows a drag, a touch or the arrow keys
/// (0.05 a press).
#[component]
fn PosteriorCanvas(problem: Memo<Problem>) -> impl IntoView {
    let page = expect_context::<Shell>();
    let drag = RwSignal::new(false);
    // The arm's target moves to a point given as fractions of the canvas.
    let aim = move |(fx, fy): (f64, f64)| {
        if problem.get_untracked() == Problem::Arm {
            let [a, b] = arm_point(fx * CANVAS, fy * CANVAS);
            page.config.update(|c| c.inverse.y = Some(vec![a, b]));
        }
    };
    let move_to = move |ev: &web_sys::MouseEvent| aim(mouse_fraction(ev));
    let touch = move |ev: web_sys::TouchEvent| {
        ev.prevent_default();
        if let Some(p) = touch_fraction(&ev) {
            aim(p);
        }
    };
    let key = move |ev: web_sys::KeyboardEvent| {
        let step = match ev.key().as_str() {
            "ArrowUp" => (0.05, 0.0),
            "ArrowDown" => (-0.05, 0.0),
            "ArrowLeft" => (0.0, -0.05),
            "ArrowRight" => (0.0, 0.05),
            _ => return,
        };
        ev.prevent_default();
        let y = observation(page);
        if y.len() == 2 {
            page.config
                .update(|c| c.inverse.y = Some(vec![y[0] + step.0, y[1] + step.1]));
        }
    };
    view! {
        <canvas id="inverse-canvas" width=CANVAS as u32 height=CANVAS as u32 tabindex="0"
            aria-label="posterior draws; for the arm, drag the red target or move it with the arrow keys"
            on:mousedown=move |ev| { drag.set(true); move_to(&ev); }
            on:mousemove=move |ev| if drag.get_untracked() { move_to(&ev) }
            on:mouseup=move |_| drag.set(false)
            on:mouseleave=move |_| drag.set(false)
            on:touchstart=touch on:touchmove=touch
            on:keydown=key></canvas>
    }
}

/// The mode: loads the problem's posterior, draws for the observation whenever it changes (the
/// latest wins), and shows the controls, the status and the picture.
#[component]
pub fn InverseView() -> impl IntoView {
    let page = expect_context::<Shell>();
    let state = InversePage::new();
    let problem = Memo::new(move |_| page.config.with(|c| c.inverse.problem));
    // A new problem: load its posterior, then draw for the current observation.
    Effect::new(move |_| {
        let p = problem.get();
        spawn_local(async move {
            state.load(p).await;
            if state.phase.get_untracked() == Phase::Ready {
                let (n, reweight) = page
                    .config
                    .with_untracked(|c| (c.inverse.samples, c.inverse.reweight));
                state.request(observation(page), n, reweight);
            }
        });
    });
    // A new observation, sample count or correction switch: draw again (the latest wins).
    let wanted = Memo::new(move |_| {
        page.config
            .with(|c| (c.inverse.y.clone(), c.inverse.samples, c.inverse.reweight))
    });
    Effect::new(move |_| {
        let (_, n, reweight) = wanted.get();
        if state.model.with_value(Option::is_some) {
            state.request(observation(page), n, reweight);
        }
    });
    let embed = page.config.with_untracked(|c| c.embed);
    view! {
        <section class="inverse-view">
            {(!embed).then(|| view! { <ProblemControls problem=problem /> })}
            <InverseStatus state=state problem=problem />
            <TrustPanel state=state embed=embed />
            {move || state.error.get().map(|e| view! { <div id="inverse-error" class="error" role="alert">{e}</div> })}
            <PosteriorCanvas problem=problem />
        </section>
    }
}
