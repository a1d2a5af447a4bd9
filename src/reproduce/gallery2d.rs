//! The 2D gallery: every flow family on every 2D target, one panel each, in the manner of the
//! comparison figures of nflows' and FFJORD's toy experiments. Each cell's figure is the
//! validation NLL minus the data's entropy (`KL(p ‖ q)` on held-out data) for sample sets whose
//! density is known, the validation NLL otherwise, and `KL(q ‖ p)` for energies.
//!
//! Budgets: `Quick` 4 layers (12 planar/radial) of width 32 (a CNF: a 2 × 32 field, RK4 in 8
//! steps), 400 steps of 256 on 4 000 points;
//! `Full` the `fit2d` defaults (8 layers, 16 planar/radial, width 64), 3 000 steps of 512 on
//! 20 000 points.

use super::{Budget, Cell};
use crate::flows::{FlowKind, FlowSpec};
use crate::targets::Target;

/// Every fit, row by row (target), column by column (flow family, [`FlowKind::ALL`]).
pub fn cells(budget: Budget, seed: u64) -> Vec<Cell> {
    cells_for(&Target::all(), &FlowKind::ALL, budget, seed)
}

/// The fits of `targets` × `flows` (a part of the gallery).
pub fn cells_for(targets: &[Target], flows: &[FlowKind], budget: Budget, seed: u64) -> Vec<Cell> {
    let (steps, batch, data_points) = match budget {
        Budget::Quick => (400, 256, 4000),
        Budget::Full => (3000, 512, 20_000),
    };
    targets
        .iter()
        .flat_map(|&target| {
            flows.iter().map(move |&kind| {
                let thin = matches!(kind, FlowKind::Planar | FlowKind::Radial);
                let cnf = kind == FlowKind::Cnf;
                let spec = match budget {
                    // A CNF is one layer: its `layers` are its field's depth; the quick one
                    // integrates in 8 RK4 steps (its energies train through the solver).
                    Budget::Quick if cnf => {
                        let mut spec = FlowSpec::new(kind, 2).with_hidden(32).with_layers(2);
                        spec.solver_steps = 8;
                        spec
                    }
                    Budget::Quick => FlowSpec::new(kind, 2)
                        .with_layers(if thin { 12 } else { 4 })
                        .with_hidden(32),
                    Budget::Full => FlowSpec::new(kind, 2),
                };
                Cell {
                    label: kind.name().to_string(),
                    target,
                    spec,
                    steps,
                    batch,
                    lr: if thin { 5e-3 } else { 2e-3 },
                    data_points,
                    seed,
                    fit_by: super::fit_by_for(kind, target),
                }
            })
        })
        .collect()
}
