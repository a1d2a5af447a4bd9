//! Re-running published results with this crate's code (`flowplay reproduce <name>`): each
//! experiment is a list of small 2D fits ([`Cell`]) and the one number per fit its paper reports
//! or implies ([`Figure`]). The CLI draws the panels and writes the tables; the definitions and
//! the numbers live here, so that a test or the page computes the same ones.
//!
//! - [`rezende2015`]: planar and radial flows fitted by reverse KL to the energies U1–U4
//!   (Rezende & Mohamed 2015, Fig. 3);
//! - [`gallery2d`]: every flow family on every 2D target;
//! - [`mbank`]: mbank's standard flow (a learnable tanh box, then linear + MAF layers) on its
//!   tutorial data.

pub mod families;
pub mod gallery2d;
pub mod mbank;
pub mod rezende2015;

use std::sync::Mutex;

use serde::Serialize;

use crate::flows::{Flow, FlowSpec};
use crate::targets::Target;
use crate::train::{
    History, Objective, TargetTraining, TrainError, TrainSettings, Trainer, target_problem,
};

/// How long an experiment runs: `Quick` fits in minutes on 2 CPU cores, `Full` is the setting
/// the tables in `docs/reproductions.md` were made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    Quick,
    Full,
}

/// One fit of an experiment: a flow on a 2D target with its training budget.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The column label in the figure (e.g. `planar K=8`).
    pub label: String,
    pub target: Target,
    pub spec: FlowSpec,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    /// Points drawn from a sample-set target (train + validation, 20 % held out).
    pub data_points: usize,
    pub seed: u64,
    /// What the flow is fitted by (KL for every family; flow matching for a continuous flow on
    /// a sample set).
    pub fit_by: crate::train::FitBy,
}

/// How the figures fit family `kind` to `target`: a continuous flow learns a sample set by flow
/// matching and an energy by reverse KL through its solver; every other family by KL.
pub fn fit_by_for(kind: crate::flows::FlowKind, target: Target) -> crate::train::FitBy {
    use crate::train::FitBy;
    match target {
        Target::Samples(_) if kind == crate::flows::FlowKind::Cnf => {
            FitBy::FlowMatching(crate::train::flow_matching::Pairing::Independent)
        }
        _ => FitBy::Kl,
    }
}

/// The number a fit is judged by, in nats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Figure {
    /// `KL(q ‖ p)` for an energy target, `p = exp(−U)/Z` normalised on the energy's box (the
    /// flow's support): `E_q[log q + U] + log Z` over 20 000 flow samples.
    Kl(f64),
    /// Validation NLL minus the data's entropy: `KL(p ‖ q)` estimated on held-out data, 0 for a
    /// perfect fit.
    NllMinusEntropy(f64),
    /// Validation NLL, for data sets whose density (and so entropy) is not known.
    ValNll(f64),
}

impl Figure {
    /// What the number is, short: `KL`, `NLL − H`, `NLL`.
    pub fn measure(self) -> &'static str {
        match self {
            Self::Kl(_) => "KL",
            Self::NllMinusEntropy(_) => "NLL − H",
            Self::ValNll(_) => "NLL",
        }
    }

    pub fn value(self) -> f64 {
        match self {
            Self::Kl(v) | Self::NllMinusEntropy(v) | Self::ValNll(v) => v,
        }
    }
}

/// A finished fit: its figure, `log q` on a `res × res` grid over the target's box, and cost.
#[derive(Clone, Debug)]
pub struct Fitted {
    pub cell: Cell,
    /// The spec as trained (with the box a target or the data gave it).
    pub spec: FlowSpec,
    pub figure: Figure,
    pub model: Flow,
    pub log_density: Vec<f32>,
    pub res: usize,
    /// Losses and validation NLLs, 50 points over the run (10 for a continuous flow).
    pub history: History,
    /// The training + validation data (empty for energies).
    pub data: Vec<f32>,
    /// Seconds spent in the training steps (the periodic evaluations left out).
    pub seconds: f64,
    /// Parameter updates that were rolled back for a NaN loss.
    pub nan_events: usize,
}

/// Grid resolution of each panel.
pub const PANEL_RES: usize = 120;

/// Seeding the device and initialising a model must not interleave between threads (the
/// backend's generator is global): the fits of an experiment run in parallel, their starts
/// one at a time, so each result depends on its seed only.
static INIT: Mutex<()> = Mutex::new(());

/// Trains `cell` on the CPU (one thread) and measures it.
pub fn fit(cell: &Cell) -> Result<Fitted, TrainError> {
    let mut run = CellRun::start(cell)?;
    pollster::block_on(async {
        run.advance(usize::MAX).await?;
        run.finish().await
    })
}

/// A fit under way, advanced a slice at a time (the page trains a figure's cells this way,
/// between frames) and finished into its [`Fitted`].
pub struct CellRun {
    cell: Cell,
    spec: FlowSpec,
    data: Vec<f32>,
    trainer: Trainer,
    clock: Box<dyn Fn() -> f64>,
    /// Seconds spent in training steps (the evaluations left out).
    train_seconds: f64,
}

impl CellRun {
    /// Builds the cell's problem and model (seeded by the cell).
    pub fn start(cell: &Cell) -> Result<Self, TrainError> {
        let how = TargetTraining {
            data_points: cell.data_points,
            val_fraction: 0.2,
            seed: cell.seed,
            beta0: 0.01,
            anneal_steps: 2 * cell.steps / 3,
            fit_by: cell.fit_by,
        };
        let problem =
            target_problem(cell.target, cell.spec.clone(), &how).map_err(TrainError::Setup)?;
        // A continuous flow's validation NLL integrates an ODE per point: 10 points of history
        // instead of 50.
        let points = if cell.spec.kind == crate::flows::FlowKind::Cnf {
            10
        } else {
            50
        };
        let settings = TrainSettings {
            steps: cell.steps,
            batch: cell.batch,
            lr: cell.lr,
            seed: cell.seed,
            eval_every: (cell.steps / points).max(1),
            ..TrainSettings::default()
        };
        let clock = Box::new(stopwatch());
        let trainer = {
            let _one_at_a_time = INIT.lock().unwrap_or_else(|e| e.into_inner());
            let config = problem.spec.config();
            Trainer::new(&config, problem.objective, settings, &crate::device::cpu())?
        };
        Ok(Self {
            cell: cell.clone(),
            spec: problem.spec,
            data: problem.data,
            trainer,
            clock,
            train_seconds: 0.0,
        })
    }

    /// Steps taken so far.
    pub fn step(&self) -> usize {
        self.trainer.step
    }

    pub fn is_done(&self) -> bool {
        self.trainer.step >= self.cell.steps
    }

    /// Up to `n` more steps (the history recorded on schedule, the start included).
    pub async fn advance(&mut self, n: usize) -> Result<(), TrainError> {
        if self.trainer.step == 0 && self.trainer.history.points.is_empty() {
            self.trainer.record_start().await?;
        }
        for _ in 0..n {
            if self.is_done() {
                break;
            }
            let start = (self.clock)();
            self.trainer.train_step().await?;
            self.train_seconds += (self.clock)() - start;
            if self.trainer.record_due() {
                self.trainer.record().await?;
            }
        }
        Ok(())
    }

    /// The figure, the density grid and the cost of the run so far.
    pub async fn finish(self) -> Result<Fitted, TrainError> {
        let figure = figure_of(self.cell.target, &self.trainer).await?;
        let model = self.trainer.inference_model();
        let grid = self.cell.target.bounds().grid(PANEL_RES);
        let log_density =
            crate::evaluate::log_prob_rows(&model, &grid, 2, &crate::device::cpu()).await?;
        Ok(Fitted {
            figure,
            model,
            log_density,
            res: PANEL_RES,
            history: self.trainer.history.clone(),
            seconds: self.train_seconds,
            nan_events: self.trainer.history.nan_events.len(),
            cell: self.cell,
            spec: self.spec,
            data: self.data,
        })
    }
}

/// Seconds since the call, on the host's clock (`Instant` does not exist in the browser).
fn stopwatch() -> impl Fn() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let start = std::time::Instant::now();
        move || start.elapsed().as_secs_f64()
    }
    #[cfg(target_arch = "wasm32")]
    {
        let start = js_sys::Date::now();
        move || (js_sys::Date::now() - start) / 1000.0
    }
}

async fn figure_of(target: Target, trainer: &Trainer) -> Result<Figure, TrainError> {
    let objective = &trainer.objective;
    match (target, objective, objective.validation_rows()) {
        (Target::Energy(_), Objective::ReverseKl { log_normalizer, .. }, _) => {
            let loss = trainer
                .reverse_kl_estimate(20_000)
                .await?
                .unwrap_or(f64::NAN);
            Ok(Figure::Kl(loss + log_normalizer))
        }
        (Target::Samples(set), _, Some((val, dim))) => {
            let nll = trainer.mean_nll(val, dim).await?;
            Ok(match set.entropy() {
                Some(h) => Figure::NllMinusEntropy(nll - h),
                None => Figure::ValNll(nll),
            })
        }
        _ => Err(TrainError::Setup(format!(
            "no figure for {} with this objective",
            target.name()
        ))),
    }
}

/// Fits every cell, `threads` at a time (each fit on one thread; one after the other in the
/// browser), in the cells' order;
/// `done(i, fitted)` is called as each finishes (for progress lines).
pub fn fit_all(
    cells: &[Cell],
    threads: usize,
    done: &(dyn Fn(usize, &Fitted) + Sync),
) -> Result<Vec<Fitted>, TrainError> {
    if threads <= 1 || cfg!(target_arch = "wasm32") {
        return cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let f = fit(cell)?;
                done(i, &f);
                Ok(f)
            })
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Fitted, TrainError>>>> =
        cells.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, cells.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(cell) = cells.get(i) else { break };
                    let r = fit(cell);
                    if let Ok(f) = &r {
                        done(i, f);
                    }
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every cell was fitted")
        })
        .collect()
}
