//! The page's third mode, "Inverse problems": a pretrained amortised posterior `q(θ | y)`
//! (`models/<problem>-posterior.flow`, trained by `flowplay fit-posterior`) answers for any
//! observation at once. Drag the arm's target point (or move the sliders of the 2D problems)
//! and the posterior draws follow: for the arm, every draw is drawn as an arm configuration
//! reaching for the point; for the 2D problems, the draws are points in the θ-plane beside the
//! exact answer (the linear-Gaussian posterior's 2σ ellipse; the ring's noiseless circle).
//!
//! `#view=inverse&problem=arm&y=0.5,1.5&samples=300`; `#flow-status` reports `data-state`
//! (`loading`, `sampling`, `ready`, `error`), `data-problem`, `data-observation`,
//! `data-samples` and `data-resim` (the draws' mean re-simulation error `‖f(θ̂) − y‖`).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::flows::Flow;
use crate::inverse::fit::posterior_draws;
use crate::inverse::metrics::resimulation_error;
use crate::inverse::problems::{ARM_SEGMENTS, arm_joints};
use crate::inverse::reference::linear_gaussian_posterior;
use crate::inverse::{Method, Problem};
use crate::rng::Rng;
use crate::web::shell::canvas::{canvas_2d, mouse_fraction, touch_fraction};
use crate::web::shell::context::Shell;
use crate::web::shell::files::fetch_bytes;
use crate::web::shell::url::MAX_OBSERVATION;

const CANVAS: f64 = 480.0;

/// What the view is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Loading,
    Sampling,
    Ready,
    Error,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Sampling => "sampling",
            Self::Ready => "ready",
            Self::Error => "error",
        }
    }
}

/// The view's state.
#[derive(Clone, Copy)]
struct InversePage {
    phase: RwSignal<Phase>,
    error: RwSignal<Option<String>>,
    /// The loaded posterior and how it draws.
    model: StoredValue<Option<(Flow, Problem, Method)>, LocalStorage>,
    draws: RwSignal<Vec<f64>>,
    resim: RwSignal<Option<f64>>,
    took_ms: RwSignal<Option<f64>>,
    /// An observation that arrived while a draw was under way (only the latest is kept).
    pending: StoredValue<Option<Vec<f64>>>,
    busy: StoredValue<bool>,
}

/// The observation the configuration asks for, or the problem's default (with a notice when
/// the link's `y` has the wrong size).
fn observation(page: Shell) -> Vec<f64> {
    let (config, y) = page
        .config
        .with_untracked(|c| (c.inverse.clone(), c.inverse.y.clone()));
    let problem = config.problem;
    if let Some(y) = y.filter(|y| y.len() != problem.obs_dim()) {
        page.notices.update(|n| {
            n.push(format!(
                "'y' has {} numbers but the {} problem observes {}; using its default",
                y.len(),
                problem.name(),
                problem.obs_dim()
            ))
        });
        page.config.update(|c| c.inverse.y = None);
    }
    config.observation()
}

impl InversePage {
    fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::Loading),
            error: RwSignal::new(None),
            model: StoredValue::new_local(None),
            draws: RwSignal::new(Vec::new()),
            resim: RwSignal::new(None),
            took_ms: RwSignal::new(None),
            pending: StoredValue::new(None),
            busy: StoredValue::new(false),
        }
    }

    fn fail(self, e: String) {
        self.error.set(Some(e));
        self.phase.set(Phase::Error);
        self.busy.set_value(false);
    }

    async fn load(self, problem: Problem) {
        self.phase.set(Phase::Loading);
        self.error.set(None);
        self.model.set_value(None);
        let url = format!("models/{}-posterior.flow", problem.name());
        let bytes = match fetch_bytes(&url).await {
            Ok(b) => b,
            Err(e) => return self.fail(format!("could not load {url}: {e}")),
        };
        let device = crate::device::cpu();
        match crate::model_file::from_bytes(bytes, &device) {
            Ok((flow, meta)) => match meta.posterior {
                Some(p) if p.problem == problem => {
                    self.model.set_value(Some((flow, problem, p.method)));
                    self.phase.set(Phase::Ready);
                }
                _ => self.fail(format!(
                    "{url} is not a posterior for the {} problem",
                    problem.name()
                )),
            },
            Err(e) => self.fail(format!("{url}: {e}")),
        }
    }

    /// Draws `n` posterior samples for `y` (or queues `y` behind the draw under way).
    fn request(self, y: Vec<f64>, n: usize) {
        if self.busy.get_value() {
            self.pending.set_value(Some(y));
            return;
        }
        let Some((flow, problem, method)) = self.model.with_value(|m| m.clone()) else {
            return;
        };
        // While another problem's posterior loads, the observation may be the new problem's.
        if y.len() != problem.obs_dim() {
            return;
        }
        self.busy.set_value(true);
        self.phase.set(Phase::Sampling);
        spawn_local(async move {
            let start = js_sys::Date::now();
            let mut rng = Rng::new(7);
            let device = crate::device::cpu();
            match posterior_draws(method, &flow, problem, &y, n, &mut rng, &device).await {
                Ok((draws, _)) => {
                    self.resim
                        .set(Some(resimulation_error(problem, &y, &draws)));
                    self.draws.set(draws);
                    self.took_ms.set(Some(js_sys::Date::now() - start));
                    paint(problem, &y, &self.draws.get_untracked());
                    self.busy.set_value(false);
                    match self.pending.try_update_value(Option::take).flatten() {
                        Some(next) => self.request(next, n),
                        None => self.phase.set(Phase::Ready),
                    }
                }
                Err(e) => self.fail(e.to_string()),
            }
        });
    }
}

/// Canvas coordinates of a point of the plane shown: the arm's `(vertical, horizontal)` in
/// `[−1.25, 1.25] × [−0.25, 2.25]`, or θ in `[−3.5, 3.5]²`.
fn to_canvas(problem: Problem, p: [f64; 2]) -> (f64, f64) {
    match problem {
        Problem::Arm => ((p[1] + 0.25) / 2.5 * CANVAS, (1.25 - p[0]) / 2.5 * CANVAS),
        _ => ((p[0] + 3.5) / 7.0 * CANVAS, (3.5 - p[1]) / 7.0 * CANVAS),
    }
}

/// The inverse of [`to_canvas`] for the arm: the observation under a pointer.
fn arm_point(x: f64, y: f64) -> [f64; 2] {
    let clamp = |v: f64| v.clamp(-MAX_OBSERVATION, MAX_OBSERVATION);
    [
        clamp(1.25 - y / CANVAS * 2.5),
        clamp(x / CANVAS * 2.5 - 0.25),
    ]
}

/// Draws the problem's picture for observation `y` and posterior draws `draws`.
fn paint(problem: Problem, y: &[f64], draws: &[f64]) {
    let Some((_, ctx)) = canvas_2d("inverse-canvas") else {
        return;
    };
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, CANVAS, CANVAS);
    let d = problem.theta_dim();
    let line = |a: (f64, f64), b: (f64, f64)| {
        ctx.begin_path();
        ctx.move_to(a.0, a.1);
        ctx.line_to(b.0, b.1);
        ctx.stroke();
    };
    match problem {
        Problem::Arm => {
            // The rail the base slides on.
            ctx.set_stroke_style_str("#999");
            ctx.set_line_width(2.0);
            line(
                to_canvas(problem, [-1.25, 0.0]),
                to_canvas(problem, [1.25, 0.0]),
            );
            ctx.set_line_width(1.5);
            ctx.set_stroke_style_str("rgba(30, 90, 200, 0.12)");
            for theta in draws.chunks(d) {
                let joints = arm_joints(theta);
                ctx.begin_path();
                let (x0, y0) = to_canvas(problem, joints[0]);
                ctx.move_to(x0, y0);
                for j in &joints[1..] {
                    let (x, yy) = to_canvas(problem, *j);
                    ctx.line_to(x, yy);
                }
                ctx.stroke();
            }
        }
        _ => {
            ctx.set_stroke_style_str("#ddd");
            ctx.set_line_width(1.0);
            line(
                to_canvas(problem, [-3.5, 0.0]),
                to_canvas(problem, [3.5, 0.0]),
            );
            line(
                to_canvas(problem, [0.0, -3.5]),
                to_canvas(problem, [0.0, 3.5]),
            );
            ctx.set_fill_style_str("rgba(30, 90, 200, 0.35)");
            for theta in draws.chunks(d) {
                let (x, yy) = to_canvas(problem, [theta[0], theta[1]]);
                ctx.fill_rect(x - 1.5, yy - 1.5, 3.0, 3.0);
            }
            exact_answer(problem, y, &ctx);
        }
    }
    if problem == Problem::Arm {
        let (x, yy) = to_canvas(problem, [y[0], y[1]]);
        ctx.set_stroke_style_str("#d22");
        ctx.set_line_width(2.5);
        ctx.begin_path();
        let _ = ctx.arc(x, yy, 7.0, 0.0, std::f64::consts::TAU);
        ctx.stroke();
    }
}

/// The exact answer of a 2D problem, in red: the linear-Gaussian posterior's 2σ ellipse, or
/// the ring `‖θ‖ = y` (the posterior without noise).
fn exact_answer(problem: Problem, y: &[f64], ctx: &web_sys::CanvasRenderingContext2d) {
    ctx.set_stroke_style_str("#d22");
    ctx.set_line_width(2.0);
    ctx.begin_path();
    let points: Vec<[f64; 2]> = match problem {
        Problem::LinearGaussian => {
            let post = linear_gaussian_posterior(y);
            // Cholesky of the covariance maps the circle of radius 2 onto the 2σ ellipse.
            let [[l11, _], [l21, l22]] = post.cholesky();
            (0..=96)
                .map(|k| {
                    let t = k as f64 / 96.0 * std::f64::consts::TAU;
                    let (u, v) = (2.0 * t.cos(), 2.0 * t.sin());
                    [post.mean[0] + l11 * u, post.mean[1] + l21 * u + l22 * v]
                })
                .collect()
        }
        _ => {
            let r = y[0].max(0.0);
            (0..=96)
                .map(|k| {
                    let t = k as f64 / 96.0 * std::f64::consts::TAU;
                    [r * t.cos(), r * t.sin()]
                })
                .collect()
        }
    };
    for (i, p) in points.iter().enumerate() {
        let (x, yy) = to_canvas(problem, *p);
        if i == 0 {
            ctx.move_to(x, yy);
        } else {
            ctx.line_to(x, yy);
        }
    }
    ctx.stroke();
}

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

/// `#flow-status`: the view's phase, the problem, the observation, the draws shown and their
/// mean re-simulation error, for readers and embedding hosts.
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
            data-backend="cpu">
            {move || state.phase.get().name()} " · " {move || problem.get().name()} " · y = " {observed}
            {move || state.resim.get().map(|r| format!(" · mean ‖f(θ̂) − y‖ = {r:.3}"))}
            {move || state.took_ms.get().map(|t| format!(" · {t:.0} ms"))}
        </output>
    }
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
                let n = page.config.with_untracked(|c| c.inverse.samples);
                state.request(observation(page), n);
            }
        });
    });
    // A new observation or sample count: draw again (the latest wins).
    let wanted = Memo::new(move |_| {
        page.config
            .with(|c| (c.inverse.y.clone(), c.inverse.samples))
    });
    Effect::new(move |_| {
        let (_, n) = wanted.get();
        if state.model.with_value(Option::is_some) {
            state.request(observation(page), n);
        }
    });
    let embed = page.config.with_untracked(|c| c.embed);
    view! {
        <section class="inverse-view">
            {(!embed).then(|| view! { <ProblemControls problem=problem /> })}
            <InverseStatus state=state problem=problem />
            {move || state.error.get().map(|e| view! { <div id="inverse-error" class="error" role="alert">{e}</div> })}
            <PosteriorCanvas problem=problem />
        </section>
    }
}
