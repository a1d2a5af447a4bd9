//! mbank's tutorial flow (Schmidt et al. 2024, arXiv:2309.09992, `mbank.flow`): its standard
//! architecture ([`FlowKind::Mbank`]: a learnable tanh box, then N × (LU linear + MAF)) with
//! 3 layers of 5 hidden features, trained by maximum likelihood at lr 10⁻³ on the tutorial's
//! `expnormal` data (x ~ Exp(1), y ~ N(0, 1)) with a validation split. Judged by the
//! validation NLL minus the data's entropy (`1 + ½ log 2πe ≈ 2.419` nats), the loss history
//! and how the flow's marginals and pairwise densities match the data's (corner plot).
//!
//! Budgets: `Quick` 3 000 steps of 256 on 10 000 points; `Full` 20 000 steps of 256 on 50 000.

use super::{Budget, Cell};
use crate::flows::{FlowKind, FlowSpec};
use crate::targets::{SampleSet, Target};

/// The tutorial's fit.
pub fn cell(budget: Budget, seed: u64) -> Cell {
    let (steps, data_points) = match budget {
        Budget::Quick => (3000, 10_000),
        Budget::Full => (20_000, 50_000),
    };
    Cell {
        label: "mbank 3×(linear + MAF), 5 hidden".into(),
        target: Target::Samples(SampleSet::ExpNormal),
        spec: FlowSpec::new(FlowKind::Mbank, 2)
            .with_layers(3)
            .with_hidden(5),
        steps,
        batch: 256,
        lr: 1e-3,
        data_points,
        seed,
        fit_by: crate::train::FitBy::Kl,
    }
}
