//! What training a 2D flow on a named [`Target`] means, in one place for the CLI (`fit2d`) and
//! the page: a sample set is fitted by maximum likelihood (forward KL) on fresh samples with a
//! validation hold-out; an energy by reverse KL against `exp(−U)` with β annealed from `beta0`,
//! and the flow's support becomes the energy's plotting box (a fixed tanh layer), because
//! U2–U4 do not confine z₁ (`exp(−U)` is not integrable on ℝ²).

use super::Objective;
use crate::flows::{FlowKind, FlowSpec};
use crate::rng::Rng;
use crate::targets::Target;

/// The knobs of [`target_problem`].
#[derive(Clone, Debug)]
pub struct TargetTraining {
    /// Samples drawn from a sample-set target.
    pub data_points: usize,
    /// Share of them held out for validation.
    pub val_fraction: f64,
    pub seed: u64,
    /// Reverse KL: β at step 0 of the annealing of `E_q[log q + β U]` (1 = none).
    pub beta0: f64,
    /// Reverse KL: steps over which β rises linearly to 1.
    pub anneal_steps: usize,
}

/// A 2D training problem: the flow's spec (with the energy's support box), the objective, and
/// the training data (empty for energies). mbank's flow gets its box from the data
/// ([`with_data_box`]).
pub struct TargetProblem {
    pub spec: FlowSpec,
    pub objective: Objective,
    pub data: Vec<f32>,
}

/// The problem of fitting `spec` to `target`.
pub fn target_problem(target: Target, spec: FlowSpec, t: &TargetTraining) -> TargetProblem {
    match target {
        Target::Samples(set) => {
            let data = set.sample(t.data_points, &mut Rng::new(t.seed ^ 0xDA7A));
            TargetProblem {
                spec: with_data_box(spec, &data),
                objective: Objective::forward_kl(2, data.clone(), t.val_fraction),
                data,
            }
        }
        Target::Energy(e) => {
            let b = e.bounds();
            let spec = spec.with_support(
                vec![b.x.0 as f32, b.y.0 as f32],
                vec![b.x.1 as f32, b.y.1 as f32],
            );
            TargetProblem {
                spec,
                objective: Objective::reverse_kl(e, t.beta0, t.anneal_steps),
                data: Vec::new(),
            }
        }
    }
}

/// mbank's flow starts its learnable box at the data's extent, widened by 5 % of the range on
/// each side (mbank initialises its tanh box from the data's bounds); other flows are unchanged.
pub fn with_data_box(spec: FlowSpec, data: &[f32]) -> FlowSpec {
    if spec.kind != FlowKind::Mbank || spec.support.is_some() || data.is_empty() {
        return spec;
    }
    let d = spec.dim;
    let (mut low, mut high) = (vec![f32::INFINITY; d], vec![f32::NEG_INFINITY; d]);
    for row in data.chunks(d) {
        for ((l, h), &v) in low.iter_mut().zip(high.iter_mut()).zip(row) {
            *l = l.min(v);
            *h = h.max(v);
        }
    }
    for (l, h) in low.iter_mut().zip(high.iter_mut()) {
        let margin = 0.05 * (*h - *l).max(1e-3);
        *l -= margin;
        *h += margin;
    }
    spec.with_support(low, high)
}
