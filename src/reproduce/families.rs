//! Flow families side by side on one target: the comparison a teacher puts on a slide — a
//! coupling flow (RealNVP), a spline flow (NSF) and a continuous flow (CNF, trained by flow
//! matching on a sample set and by reverse KL through its solver on an energy), each with the
//! same data, hold-out and steps, judged by the same exact log-likelihood (or `KL(q ‖ p)` on an
//! energy) and timed. The page's Papers view fits these cells live
//! (`#view=papers&figure=families&target=moons`), `flowplay reproduce gallery2d --only moons`
//! fits every family natively.
//!
//! Recipes: RealNVP and NSF with 4 layers of width 64 at learning rate 2·10⁻³ (the gallery's
//! choice), the CNF's 128-wide, 3-deep velocity field at 3·10⁻³ (flow matching's regression
//! target is noisier, a larger step pays); batch 512 on 8 000 points (20 % held out), 1 000
//! steps unless the link says otherwise.

use super::Cell;
use crate::flows::{FlowKind, FlowSpec};
use crate::targets::Target;

/// The families compared by default.
pub const DEFAULT_FAMILIES: [FlowKind; 3] = [FlowKind::Realnvp, FlowKind::Nsf, FlowKind::Cnf];
/// Steps per fit unless a link or flag says otherwise.
pub const DEFAULT_STEPS: usize = 1000;

/// One fit per family in `families` on `target`.
pub fn cells(target: Target, families: &[FlowKind], steps: Option<usize>, seed: u64) -> Vec<Cell> {
    families
        .iter()
        .map(|&kind| {
            let thin = matches!(kind, FlowKind::Planar | FlowKind::Radial);
            let spec = match kind {
                FlowKind::Cnf => FlowSpec::new(kind, 2),
                _ if thin => FlowSpec::new(kind, 2).with_layers(16),
                _ => FlowSpec::new(kind, 2).with_layers(4),
            };
            Cell {
                label: kind.name().to_string(),
                target,
                spec,
                steps: steps.unwrap_or(DEFAULT_STEPS),
                batch: 512,
                lr: match kind {
                    FlowKind::Cnf => 3e-3,
                    _ if thin => 5e-3,
                    _ => 2e-3,
                },
                data_points: 8000,
                seed,
                fit_by: super::fit_by_for(kind, target),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{Energy, SampleSet};
    use crate::train::FitBy;
    use crate::train::flow_matching::Pairing;

    #[test]
    fn a_cnf_matches_flows_on_samples_and_reverse_kl_on_energies() {
        let moons = cells(
            Target::Samples(SampleSet::Moons),
            &DEFAULT_FAMILIES,
            None,
            0,
        );
        assert_eq!(moons.len(), 3);
        assert_eq!(moons[2].fit_by, FitBy::FlowMatching(Pairing::Independent));
        assert!(moons[..2].iter().all(|c| c.fit_by == FitBy::Kl));
        let u1 = cells(Target::Energy(Energy::U1), &DEFAULT_FAMILIES, Some(7), 0);
        assert!(u1.iter().all(|c| c.fit_by == FitBy::Kl && c.steps == 7));
    }
}
