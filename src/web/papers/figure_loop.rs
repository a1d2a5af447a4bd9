//! The Papers mode's fitting loop, the same in the worker and on the page's thread: fits the
//! requested figure's cells one after the other, a slice of steps at a time, reporting
//! progress and each finished cell; a newer request stops the older run between slices.

use std::cell::Cell as Flag;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;

use super::protocol::{Reply, Request};
use crate::flows::FlowKind;
use crate::reproduce::families;
use crate::reproduce::rezende2015::figure_cells;
use crate::reproduce::{Cell, CellRun, Fitted};
use crate::targets::{Energy, Target};

/// Steps per slice (then the loop yields, so a new request can arrive).
const SLICE: usize = 25;

/// Where replies go.
pub type Emit = Rc<dyn Fn(Reply)>;

/// The loop: the run under way (a newer request replaces it).
#[derive(Clone)]
pub struct FigureLoop {
    emit: Emit,
    current: Rc<Flag<u64>>,
}

impl FigureLoop {
    pub fn new(emit: Emit) -> Self {
        Self {
            emit,
            current: Rc::new(Flag::new(0)),
        }
    }

    /// Starts the requested run (the previous one stops at its next slice).
    pub fn push(&self, request: Request) {
        let (run, cells) = match request {
            Request::Run {
                run,
                energies,
                lengths,
                steps,
                seed,
            } => {
                let energies: Vec<Energy> = Energy::ALL
                    .into_iter()
                    .filter(|e| energies.iter().any(|n| n == e.name()))
                    .collect();
                (run, figure_cells(&energies, &lengths, steps, seed))
            }
            Request::Compare {
                run,
                target,
                flows,
                steps,
                seed,
            } => {
                let cells = match target.parse::<Target>() {
                    Ok(t) => {
                        let kinds: Vec<FlowKind> =
                            flows.iter().filter_map(|f| f.parse().ok()).collect();
                        families::cells(t, &kinds, steps, seed)
                    }
                    Err(_) => Vec::new(),
                };
                (run, cells)
            }
        };
        self.current.set(run);
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move { me.fit_all(run, cells).await });
    }

    async fn fit_all(self, run: u64, cells: Vec<Cell>) {
        // Let a request that replaces this one arrive first.
        TimeoutFuture::new(0).await;
        for (index, cell) in cells.iter().enumerate() {
            let name = format!("{} {}", cell.target.name(), cell.label);
            match self.fit(run, (index, cells.len()), cell, &name).await {
                Some(Ok(f)) => (self.emit)(Reply::Cell {
                    run,
                    index,
                    name,
                    label: cell.label.clone(),
                    kl: f.figure.value(),
                    measure: f.figure.measure().to_string(),
                    seconds: f.seconds,
                    log_density: f.log_density,
                }),
                Some(Err(error)) => {
                    return (self.emit)(Reply::Failed {
                        run,
                        error: format!("{name}: {error}"),
                    });
                }
                None => return,
            }
        }
        (self.emit)(Reply::Done { run });
    }

    /// One cell; `None` when a newer run took over.
    async fn fit(
        &self,
        run: u64,
        (index, total): (usize, usize),
        cell: &Cell,
        name: &str,
    ) -> Option<Result<Fitted, String>> {
        let mut fit = match CellRun::start(cell) {
            Ok(f) => f,
            Err(e) => return Some(Err(e.to_string())),
        };
        while !fit.is_done() {
            if let Err(e) = fit.advance(SLICE).await {
                return Some(Err(e.to_string()));
            }
            (self.emit)(Reply::Progress {
                run,
                index,
                total,
                name: name.to_string(),
                step: fit.step(),
                steps: cell.steps,
            });
            TimeoutFuture::new(0).await;
            if self.current.get() != run {
                return None;
            }
        }
        Some(fit.finish().await.map_err(|e| e.to_string()))
    }
}
