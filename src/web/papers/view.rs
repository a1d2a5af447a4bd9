//! The Papers view: Rezende & Mohamed's Fig. 3 trained live in the tab. The figure's cells
//! (an energy U1–U4 per row; planar, then radial flows of each length K per column) are the
//! ones `flowplay reproduce rezende2015 --quick` fits ([`crate::reproduce::rezende2015`]), with
//! the link's `steps` and `seed`, so the page's KL for a cell is the CLI's for the same cell.
//! Each fit advances a slice of steps between frames (the page stays responsive) and its
//! panel is painted as it finishes, titled with its `KL(q ‖ p)`.
//!
//! `#view=papers&energies=u2&lengths=2,8&steps=300&seed=0`; `#flow-status` reports
//! `data-state` (`training`, `done`, `error`), `data-cells` (`done/total`) and `data-kl`
//! (JSON: `{"u2 planar K=2": 0.91, …}`).

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::Clamped;

use crate::plot::density::density_rgba;
use crate::reproduce::rezende2015::cells;
use crate::reproduce::{Budget, Cell, CellRun, PANEL_RES};
use crate::targets::{Energy, Target};
use crate::web::shell::canvas::canvas_2d;
use crate::web::shell::context::Shell;

/// Steps per slice between frames.
const SLICE: usize = 25;
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

/// The view's state: the finished cells' KLs (in cell order), the one under way, and a run
/// number that a new configuration bumps, so an outdated loop stops.
#[derive(Clone, Copy)]
struct PapersPage {
    phase: RwSignal<Phase>,
    error: RwSignal<Option<String>>,
    kls: RwSignal<Vec<(String, f64)>>,
    current: RwSignal<String>,
    total: RwSignal<usize>,
    run: StoredValue<u64>,
}

/// The cells the configuration asks for, row by row.
fn selected_cells(page: Shell) -> (Vec<Energy>, Vec<usize>, Vec<Cell>) {
    let (energies, lengths, steps, seed) = page.config.with_untracked(|c| {
        (
            c.papers.energies.clone(),
            c.papers.lengths.clone(),
            c.steps,
            c.seed,
        )
    });
    let mut chosen = Vec::new();
    for e in &energies {
        for kind in [
            crate::flows::FlowKind::Planar,
            crate::flows::FlowKind::Radial,
        ] {
            for &k in &lengths {
                let base = cells(Budget::Quick, seed)
                    .into_iter()
                    .find(|c| c.target == Target::Energy(*e))
                    .expect("the quick figure has every energy");
                chosen.push(Cell {
                    label: format!("{kind} K={k}"),
                    spec: crate::flows::FlowSpec::new(kind, 2).with_layers(k),
                    steps: steps.unwrap_or(base.steps),
                    ..base
                });
            }
        }
    }
    (energies, lengths, chosen)
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
fn paint_frame(energies: &[Energy], per_row: usize) -> Result<(), String> {
    let (canvas, ctx) = canvas_2d("papers-canvas").ok_or("no canvas #papers-canvas")?;
    let width = LABEL + (per_row + 1) as f64 * (PANEL + 4.0);
    let height = energies.len() as f64 * (PANEL + TITLE);
    canvas.set_width(width as u32);
    canvas.set_height(height.max(1.0) as u32);
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, width, height);
    for (r, e) in energies.iter().enumerate() {
        let y = r as f64 * (PANEL + TITLE);
        ctx.set_fill_style_str("#222");
        ctx.set_font("14px sans-serif");
        ctx.fill_text(&e.name().to_uppercase(), 4.0, y + TITLE + PANEL / 2.0)
            .map_err(|e| format!("{e:?}"))?;
        let truth = Target::Energy(*e).log_density_grid(PANEL_RES);
        paint_panel((LABEL, y), "exp(−U)", &truth)?;
    }
    Ok(())
}

impl PapersPage {
    fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::Training),
            error: RwSignal::new(None),
            kls: RwSignal::new(Vec::new()),
            current: RwSignal::new(String::new()),
            total: RwSignal::new(0),
            run: StoredValue::new(0),
        }
    }

    fn fail(self, e: String) {
        self.error.set(Some(e));
        self.phase.set(Phase::Error);
    }

    /// Trains every cell of the configuration in turn, painting each as it finishes; stops
    /// when a newer run starts.
    async fn train(self, page: Shell) {
        let run = self.run.get_value() + 1;
        self.run.set_value(run);
        let (energies, lengths, cells) = selected_cells(page);
        let per_row = 2 * lengths.len();
        self.kls.set(Vec::new());
        self.total.set(cells.len());
        self.error.set(None);
        self.phase.set(Phase::Training);
        // Let the canvas mount before painting.
        TimeoutFuture::new(0).await;
        if let Err(e) = paint_frame(&energies, per_row) {
            return self.fail(e);
        }
        for (i, cell) in cells.iter().enumerate() {
            let name = format!("{} {}", cell.target.name(), cell.label);
            let fitted = match self.fit(run, cell, &name).await {
                Some(Ok(f)) => f,
                Some(Err(e)) => return self.fail(format!("{name}: {e}")),
                None => return,
            };
            let kl = fitted.figure.value();
            let title = format!("{}  KL {kl:.2}", cell.label);
            if let Err(e) = paint_panel(panel_origin(i, per_row), &title, &fitted.log_density) {
                return self.fail(e);
            }
            self.kls.update(|k| k.push((name, kl)));
        }
        self.current.set(String::new());
        self.phase.set(Phase::Done);
    }

    /// One cell, a slice at a time; `None` when a newer run took over.
    async fn fit(
        self,
        run: u64,
        cell: &Cell,
        name: &str,
    ) -> Option<Result<crate::reproduce::Fitted, String>> {
        let mut fit = match CellRun::start(cell) {
            Ok(f) => f,
            Err(e) => return Some(Err(e.to_string())),
        };
        while !fit.is_done() {
            if let Err(e) = fit.advance(SLICE).await {
                return Some(Err(e.to_string()));
            }
            self.current
                .set(format!("{name}: step {}/{}", fit.step(), cell.steps));
            TimeoutFuture::new(0).await;
            if self.run.get_value() != run {
                return None;
            }
        }
        Some(fit.finish().await.map_err(|e| e.to_string()))
    }
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
            data-backend="cpu">{text}</p>
    }
}

/// The figure's KLs as a table, filled in as the fits finish.
#[component]
fn KlTable(state: PapersPage) -> impl IntoView {
    view! {
        <table id="papers-table" class="papers-table">
            <thead><tr><th>"fit"</th><th>"KL(q‖p), nats"</th></tr></thead>
            <tbody>
                {move || state.kls.get().into_iter().map(|(name, kl)| view! {
                    <tr><td>{name}</td><td>{format!("{kl:.3}")}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The mode: trains the configured part of the figure whenever the configuration changes.
#[component]
pub fn PapersView() -> impl IntoView {
    let page = expect_context::<Shell>();
    let state = PapersPage::new();
    let wanted = Memo::new(move |_| page.config.with(|c| (c.papers.clone(), c.steps, c.seed)));
    Effect::new(move |_| {
        wanted.track();
        spawn_local(state.train(page));
    });
    let embed = page.config.with_untracked(|c| c.embed);
    view! {
        <section class="papers-view">
            {(!embed).then(|| view! {
                <h2>"Rezende & Mohamed 2015, Fig. 3: planar and radial flows fitted to U1–U4"</h2>
                <p class="explain">"Each panel is a flow of K layers trained here, in this tab, by reverse KL against the energy on the left (β annealed from 0.01 to 1); its title is KL(q‖p) on the box [−4, 4]². The command "<code>"flowplay reproduce rezende2015 --quick"</code>" fits the same cells natively and gets the same numbers."</p>
            })}
            <PapersStatus state=state />
            {move || state.error.get().map(|e| view! { <div id="papers-error" class="error" role="alert">{e}</div> })}
            <canvas id="papers-canvas" width="800" height="600"></canvas>
            {(!embed).then(|| view! { <KlTable state=state /> })}
        </section>
    }
}
