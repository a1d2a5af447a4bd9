//! The Papers view: Rezende & Mohamed's Fig. 3 trained live in the tab. The figure's cells
//! (an energy U1–U4 per row; planar flows, NICE, then radial flows of each length K per
//! column) are the
//! ones `flowplay reproduce rezende2015 --quick` fits ([`crate::reproduce::rezende2015`]), with
//! the link's `steps` and `seed`, so the page's KL for a cell is the CLI's for the same cell.
//! The fits run in a Web Worker of their own ([`super::link`]; on the page's thread, a slice
//! of steps between frames, where no worker starts) and each panel is painted as its fit
//! finishes, titled with its `KL(q ‖ p)`.
//!
//! `#view=papers&energies=u2&lengths=2,8&steps=300&seed=0`; `#flow-status` reports
//! `data-state` (`training`, `done`, `error`), `data-cells` (`done/total`), `data-kl`
//! (JSON: `{"u2 planar K=2": 0.91, …}`) and `data-trains-in` (`worker` or `page`).

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::Clamped;

use std::rc::Rc;

use super::link::PapersLink;
use super::protocol::{Reply, Request};
use crate::plot::density::density_rgba;
use crate::reproduce::PANEL_RES;
use crate::reproduce::rezende2015::FAMILIES;
use crate::targets::Target;
use crate::web::shell::canvas::canvas_2d;
use crate::web::shell::context::Shell;
use crate::web::shell::url::PaperFigure;

/// Pixels per panel (each panel is the fit's `PANEL_RES²` grid) and the title band above it.
const PANEL: f64 = PANEL_RES as f64;
const TITLE: f64 = 18.0;
const LABEL: f64 = 36.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Training,
    Done,
    Error,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Self::Training => "training",
            Self::Done => "done",
            Self::Error => "error",
        }
    }
}

/// The view's state: the finished cells' KLs (in cell order), the fit under way, the run the
/// page waits for (replies about older runs are dropped) and its figure's row width.
#[derive(Clone, Copy)]
struct PapersPage {
    phase: RwSignal<Phase>,
    error: RwSignal<Option<String>>,
    kls: RwSignal<Vec<(String, f64)>>,
    /// Each finished fit's training time, in the order of `kls`.
    seconds: RwSignal<Vec<f64>>,
    /// What the figures are (`KL`, `NLL − H`, `NLL`).
    measure: RwSignal<String>,
    current: RwSignal<String>,
    total: RwSignal<usize>,
    trains_in: RwSignal<&'static str>,
    run: StoredValue<u64>,
    per_row: StoredValue<usize>,
    link: StoredValue<Option<PapersLink>, LocalStorage>,
}

impl PapersPage {
    fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::Training),
            error: RwSignal::new(None),
            kls: RwSignal::new(Vec::new()),
            seconds: RwSignal::new(Vec::new()),
            measure: RwSignal::new("KL(q‖p)".to_string()),
            current: RwSignal::new(String::new()),
            total: RwSignal::new(0),
            trains_in: RwSignal::new("page"),
            run: StoredValue::new(0),
            per_row: StoredValue::new(1),
            link: StoredValue::new_local(None),
        }
    }

    fn fail(self, e: String) {
        self.error.set(Some(e));
        self.phase.set(Phase::Error);
    }

    /// Asks the loop for the configured figure and paints its frame.
    fn request(self, page: Shell) {
        let run = self.run.get_value() + 1;
        self.run.set_value(run);
        let (papers, target, steps, seed) = page
            .config
            .with_untracked(|c| (c.papers.clone(), c.target, c.steps, c.seed));
        // (rows: a label and the true density each; fits per row; the request)
        let (rows, per_row, request) = match papers.figure {
            PaperFigure::Rezende2015 => {
                let rows: Vec<Target> =
                    papers.energies.iter().map(|e| Target::Energy(*e)).collect();
                let request = Request::Run {
                    run,
                    energies: papers
                        .energies
                        .iter()
                        .map(|e| e.name().to_string())
                        .collect(),
                    lengths: papers.lengths.clone(),
                    steps,
                    seed,
                };
                (rows, FAMILIES.len() * papers.lengths.len(), request)
            }
            PaperFigure::Families => {
                let request = Request::Compare {
                    run,
                    target: target.name().to_string(),
                    flows: papers.flows.iter().map(|k| k.name().to_string()).collect(),
                    steps,
                    seed,
                };
                (vec![target], papers.flows.len(), request)
            }
        };
        self.per_row.set_value(per_row);
        self.kls.set(Vec::new());
        self.seconds.set(Vec::new());
        self.total.set(rows.len() * per_row);
        self.error.set(None);
        self.current.set(String::new());
        self.phase.set(Phase::Training);
        spawn_local(async move {
            // Let the canvas mount before painting.
            TimeoutFuture::new(0).await;
            if let Err(e) = paint_frame(&rows, per_row) {
                return self.fail(e);
            }
            self.link.with_value(|l| {
                if let Some(link) = l {
                    link.send(request);
                    self.trains_in.set(link.place());
                }
            });
        });
    }

    /// A reply from the loop, about the run the page waits for.
    fn on_reply(self, reply: Reply) {
        if let Some(link) = self.link.with_value(|l| l.as_ref().map(|l| l.place())) {
            self.trains_in.set(link);
        }
        if reply.run().is_some_and(|r| r != self.run.get_value()) {
            return;
        }
        match reply {
            Reply::Ready => {}
            Reply::Progress {
                index,
                total,
                name,
                step,
                steps,
                ..
            } => self.current.set(format!(
                "fit {} of {total}, {name}: step {step}/{steps}",
                index + 1
            )),
            Reply::Cell {
                index,
                name,
                label,
                kl,
                measure,
                seconds,
                log_density,
                ..
            } => {
                let title = format!("{label}  {measure} {kl:.3} · {seconds:.1} s");
                self.seconds.update(|s| s.push(seconds));
                self.measure.set(measure);
                let origin = panel_origin(index, self.per_row.get_value());
                if let Err(e) = paint_panel(origin, &title, &log_density) {
                    return self.fail(e);
                }
                self.kls.update(|k| k.push((name, kl)));
            }
            Reply::Done { .. } => {
                self.current.set(String::new());
                self.phase.set(Phase::Done);
            }
            Reply::Failed { error, .. } => self.fail(error),
        }
    }
}

/// Where cell `i` of a figure with `per_row` fits per row is painted (after the true density).
fn panel_origin(i: usize, per_row: usize) -> (f64, f64) {
    let (row, col) = (i / per_row, i % per_row + 1);
    (
        LABEL + col as f64 * (PANEL + 4.0),
        row as f64 * (PANEL + TITLE),
    )
}

/// Paints one panel: its title, then `log q` as an image.
fn paint_panel(origin: (f64, f64), title: &str, log_density: &[f32]) -> Result<(), String> {
    let (_, ctx) = canvas_2d("papers-canvas").ok_or("no canvas #papers-canvas")?;
    ctx.set_fill_style_str("#222");
    ctx.set_font("12px sans-serif");
    ctx.fill_text(title, origin.0 + 2.0, origin.1 + 13.0)
        .map_err(|e| format!("{e:?}"))?;
    let rgba = density_rgba(log_density, PANEL_RES);
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&rgba),
        PANEL_RES as u32,
        PANEL_RES as u32,
    )
    .map_err(|e| format!("{e:?}"))?;
    ctx.put_image_data(&image, origin.0, origin.1 + TITLE)
        .map_err(|e| format!("{e:?}"))
}

/// Clears the canvas to the figure's size and paints each row's label and true density.
fn paint_frame(rows: &[Target], per_row: usize) -> Result<(), String> {
    let (canvas, ctx) = canvas_2d("papers-canvas").ok_or("no canvas #papers-canvas")?;
    let width = LABEL + (per_row + 1) as f64 * (PANEL + 4.0);
    let height = rows.len() as f64 * (PANEL + TITLE);
    canvas.set_width(width as u32);
    canvas.set_height(height.max(1.0) as u32);
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, width, height);
    for (r, target) in rows.iter().enumerate() {
        let y = r as f64 * (PANEL + TITLE);
        ctx.set_fill_style_str("#222");
        ctx.set_font("14px sans-serif");
        let name = match target {
            Target::Energy(e) => e.name().to_uppercase(),
            Target::Samples(s) => s.name().chars().take(5).collect(),
        };
        ctx.fill_text(&name, 4.0, y + TITLE + PANEL / 2.0)
            .map_err(|e| format!("{e:?}"))?;
        let truth = target.log_density_grid(PANEL_RES);
        let title = match target {
            Target::Energy(_) => "exp(−U)",
            Target::Samples(_) => "the data",
        };
        paint_panel((LABEL, y), title, &truth)?;
    }
    Ok(())
}

/// `{"u2 planar K=2": 0.91, …}`.
fn kl_json(kls: &[(String, f64)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = kls
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::json!(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[component]
fn PapersStatus(state: PapersPage) -> impl IntoView {
    let cells = move || format!("{}/{}", state.kls.with(Vec::len), state.total.get());
    let text = move || match state.phase.get() {
        Phase::Training => format!(
            "training {} of the figure's fits — {}",
            cells(),
            state.current.get()
        ),
        Phase::Done => format!("all {} fits done", state.total.get()),
        Phase::Error => "stopped".to_string(),
    };
    view! {
        <p id="flow-status" class="status"
            data-state=move || state.phase.get().name()
            data-view="papers"
            data-cells=cells
            data-kl=move || state.kls.with(|k| kl_json(k))
            data-trains-in=move || state.trains_in.get()
            data-backend="cpu">{text}</p>
    }
}

/// The figure's numbers as a table (with each fit's training time), filled in as the fits
/// finish.
#[component]
fn KlTable(state: PapersPage) -> impl IntoView {
    view! {
        <table id="papers-table" class="papers-table">
            <thead><tr><th>"fit"</th><th>{move || format!("{}, nats", state.measure.get())}</th><th>"training time"</th></tr></thead>
            <tbody>
                {move || {
                    let seconds = state.seconds.get();
                    state.kls.get().into_iter().zip(seconds).map(|((name, kl), s)| view! {
                        <tr><td>{name}</td><td>{format!("{kl:.3}")}</td><td>{format!("{s:.1} s")}</td></tr>
                    }).collect_view()
                }}
            </tbody>
        </table>
    }
}

/// The mode: trains the configured part of the figure whenever the configuration changes.
#[component]
pub fn PapersView() -> impl IntoView {
    let page = expect_context::<Shell>();
    let state = PapersPage::new();
    state
        .link
        .set_value(Some(PapersLink::open(Rc::new(move |r| state.on_reply(r)))));
    let wanted = Memo::new(move |_| {
        page.config
            .with(|c| (c.papers.clone(), c.target, c.steps, c.seed))
    });
    Effect::new(move |_| {
        wanted.track();
        state.request(page);
    });
    let (embed, figure) = page.config.with_untracked(|c| (c.embed, c.papers.figure));
    view! {
        <section class="papers-view">
            {(!embed && figure == PaperFigure::Rezende2015).then(|| view! {
                <h2>"Rezende & Mohamed 2015, Fig. 3: planar flows and NICE (and radial flows) fitted to U1–U4"</h2>
                <p class="explain">"Each panel is a flow of K layers trained here, in this tab, by reverse KL against the energy on the left (β annealed from 0.01 to 1); its title is KL(q‖p) on the box [−4, 4]². The command "<code>"flowplay reproduce rezende2015 --quick"</code>" fits the same cells natively and gets the same numbers."</p>
            })}
            {(!embed && figure == PaperFigure::Families).then(|| view! {
                <h2>"Flow families side by side: a coupling flow, a spline flow and a continuous flow on one target"</h2>
                <p class="explain">"Each panel is one family trained here, in this tab, on the same data and hold-out for the same number of steps: RealNVP and NSF by maximum likelihood, the CNF by flow matching (an energy: by reverse KL through its ODE solver). Every title gives the same exact measure — the held-out NLL minus the target's entropy where it is known (0 is a perfect fit), the NLL otherwise, KL(q‖p) on an energy — and the training time. "<code>"flowplay reproduce gallery2d --only moons"</code>" trains every family natively."</p>
            })}
            <PapersStatus state=state />
            {move || state.error.get().map(|e| view! { <div id="papers-error" class="error" role="alert">{e}</div> })}
            <canvas id="papers-canvas" width="800" height="600"></canvas>
            {(!embed).then(|| view! { <KlTable state=state /> })}
        </section>
    }
}
