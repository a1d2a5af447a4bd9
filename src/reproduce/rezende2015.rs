//! Rezende & Mohamed 2015 ("Variational inference with normalizing flows", ICML, Fig. 3):
//! planar flows (panel b) and NICE (panel c: additive couplings with a final diagonal scale,
//! Dinh et al. 2015) of length K fitted by reverse KL to the four energies U1–U4, and radial
//! flows beside them (our addition; the paper has radial flows in its theory, not in this
//! figure). We measure `KL(q ‖ p)` on the box `[−4, 4]²` that holds the flow's support and
//! essentially all of `exp(−U)`'s mass (`Energy::bounds`); panel (d) of the paper plots the
//! bound `E_q[log q + U] = KL − log Z` against K for planar flows and NICE, which
//! `reproduce rezende2015` draws from the same fits as KL against K.
//!
//! Budgets: `Quick` K = 2, 8, 32 for every family, 1 000 steps of 256 samples; `Full` the
//! 2–32 sweep (K = 2, 4, 8, 16, 32) of the planar-flow seed, 10 000 steps of 512. The paper
//! trained 500 000 steps of 100 samples (RMSprop, lr 1e-5, momentum 0.9); we use Adam at
//! 5·10⁻³ with β annealed from 0.01 to 1 over two thirds of the steps (as `fit2d`).

use super::{Budget, Cell};
use crate::flows::{FlowKind, FlowSpec};
use crate::targets::{Energy, Target};

/// The energies of the figure, its rows.
pub const ENERGIES: [Energy; 4] = [Energy::U1, Energy::U2, Energy::U3, Energy::U4];
/// The flow families of the figure, in column order: the paper's planar flows and NICE, then
/// radial flows.
pub const FAMILIES: [FlowKind; 3] = [FlowKind::Planar, FlowKind::Nice, FlowKind::Radial];

/// Flow lengths K of a budget.
pub fn lengths(budget: Budget) -> &'static [usize] {
    match budget {
        Budget::Quick => &[2, 8, 32],
        Budget::Full => &[2, 4, 8, 16, 32],
    }
}

/// The figure's columns after the true density: each of [`FAMILIES`] at each K.
pub fn columns(budget: Budget) -> Vec<(FlowKind, usize)> {
    FAMILIES
        .into_iter()
        .flat_map(|kind| lengths(budget).iter().map(move |&k| (kind, k)))
        .collect()
}

/// Every fit, row by row (energy), column by column (flow, K).
pub fn cells(budget: Budget, seed: u64) -> Vec<Cell> {
    let (steps, batch) = match budget {
        Budget::Quick => (1000, 256),
        Budget::Full => (10_000, 512),
    };
    ENERGIES
        .iter()
        .flat_map(|&energy| {
            columns(budget).into_iter().map(move |(kind, k)| Cell {
                label: format!("{kind} K={k}"),
                target: Target::Energy(energy),
                spec: FlowSpec::new(kind, 2).with_layers(k),
                steps,
                batch,
                lr: 5e-3,
                data_points: 0,
                seed,
                fit_by: crate::train::FitBy::Kl,
            })
        })
        .collect()
}

/// The figure's cells for any rows, lengths and step count (the page's Papers mode): `energies`
/// × [`FAMILIES`] × `lengths`, each with the quick budget's batch and learning rate,
/// `steps` steps (default: the quick budget's) and `seed`. For lengths of the quick figure they
/// are [`cells`]'s own, so the page and `reproduce rezende2015 --quick --only … --lengths …`
/// fit the same things.
pub fn figure_cells(
    energies: &[Energy],
    lengths: &[usize],
    steps: Option<usize>,
    seed: u64,
) -> Vec<Cell> {
    let base = &cells(Budget::Quick, seed)[0];
    energies
        .iter()
        .flat_map(|&energy| {
            FAMILIES
                .into_iter()
                .flat_map(move |kind| lengths.iter().map(move |&k| (energy, kind, k)))
        })
        .map(|(energy, kind, k)| Cell {
            label: format!("{kind} K={k}"),
            target: Target::Energy(energy),
            spec: FlowSpec::new(kind, 2).with_layers(k),
            steps: steps.unwrap_or(base.steps),
            ..base.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's cells for the quick figure's rows and lengths are the quick figure's.
    #[test]
    fn figure_cells_are_the_quick_cells() {
        let quick = cells(Budget::Quick, 3);
        let page = figure_cells(&ENERGIES, lengths(Budget::Quick), None, 3);
        assert_eq!(page.len(), quick.len());
        for (a, b) in page.iter().zip(&quick) {
            assert_eq!(
                (&a.label, a.target, &a.spec, a.steps, a.batch),
                (&b.label, b.target, &b.spec, b.steps, b.batch)
            );
            assert_eq!((a.lr, a.seed), (b.lr, b.seed));
        }
    }

    /// The grid is energies × (planar, NICE, radial) × K, in that order, each cell on its energy.
    #[test]
    fn cells_cover_each_energy_and_length_once() {
        for budget in [Budget::Quick, Budget::Full] {
            let cells = cells(budget, 0);
            let per_row = FAMILIES.len() * lengths(budget).len();
            assert_eq!(cells.len(), ENERGIES.len() * per_row);
            for (i, c) in cells.iter().enumerate() {
                assert_eq!(c.target, Target::Energy(ENERGIES[i / per_row]));
                let (kind, k) = columns(budget)[i % per_row];
                assert_eq!((c.spec.kind, c.spec.layers), (kind, k));
            }
        }
    }
}
