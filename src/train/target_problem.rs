//! What training a 2D flow on a named [`Target`] means, in one place for the CLI (`fit2d`) and
//! the page: a sample set is fitted by maximum likelihood (forward KL) on fresh samples with a
//! validation hold-out; an energy by reverse KL against `exp(−U)` with β annealed from `beta0`,
//! and the flow's support becomes the energy's plotting box (a fixed tanh layer), because
//! U2–U4 do not confine z₁ (`exp(−U)` is not integrable on ℝ²). With `regression`, either
//! kind is fitted instead by regressing `log q` onto the known `log p` at points drawn from the
//! target (mbank's objective, Schmidt et al. 2024). With flow matching, a sample set trains a
//! continuous flow's velocity on the same data and hold-out as forward KL (an energy has no
//! samples to match).

use super::Objective;
use super::flow_matching::Pairing;
use crate::flows::{FlowKind, FlowSpec};
use crate::rng::Rng;
use crate::targets::{Energy, SampleSet, Target};

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
    /// What the flow is fitted by.
    pub fit_by: FitBy,
}

/// How a target is fitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FitBy {
    /// Forward KL on a sample set, reverse KL against an energy.
    #[default]
    Kl,
    /// Regress `log q` onto the target's known `log p` at points drawn from it (mbank's
    /// objective).
    Regression,
    /// Conditional flow matching on samples (a continuous flow only).
    FlowMatching(super::flow_matching::Pairing),
}

impl FitBy {
    /// Every choice, as the page's objective picker and its URL name them.
    pub const ALL: [FitBy; 4] = [
        Self::Kl,
        Self::Regression,
        Self::FlowMatching(Pairing::Independent),
        Self::FlowMatching(Pairing::MinibatchOt),
    ];

    /// The URL name: `kl`, `regression`, `flow-matching`, `flow-matching-ot`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kl => "kl",
            Self::Regression => "regression",
            Self::FlowMatching(Pairing::Independent) => "flow-matching",
            Self::FlowMatching(Pairing::MinibatchOt) => "flow-matching-ot",
        }
    }

    /// The flow-matching pairing, for flow matching.
    pub fn pairing(self) -> Option<Pairing> {
        match self {
            Self::FlowMatching(p) => Some(p),
            _ => None,
        }
    }

    /// A label for a picker.
    pub fn label(self) -> &'static str {
        match self {
            Self::Kl => "KL (fit the target)",
            Self::Regression => "regression onto log p",
            Self::FlowMatching(Pairing::Independent) => "flow matching (cnf)",
            Self::FlowMatching(Pairing::MinibatchOt) => "flow matching, minibatch OT (cnf)",
        }
    }
}

impl std::str::FromStr for FitBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown objective '{s}'"))
    }
}

/// A 2D training problem: the flow's spec (with the energy's support box), the objective, and
/// the training data (empty for energies). mbank's flow gets its box from the data
/// ([`with_data_box`]).
pub struct TargetProblem {
    pub spec: FlowSpec,
    pub objective: Objective,
    pub data: Vec<f32>,
}

/// The problem of fitting `spec` to `target`; an error names a target that cannot be fitted
/// this way (regression onto a sample set whose density is not known).
pub fn target_problem(
    target: Target,
    spec: FlowSpec,
    t: &TargetTraining,
) -> Result<TargetProblem, String> {
    if t.fit_by == FitBy::Regression {
        return regression_problem(target, spec, t);
    }
    let pairing = t.fit_by.pairing();
    Ok(match target {
        Target::Samples(set) => {
            let data = set.sample(t.data_points, &mut Rng::new(t.seed ^ 0xDA7A));
            let objective = Objective::on_samples(2, data.clone(), t.val_fraction, pairing);
            TargetProblem {
                // mbank's box around the training split only: validation points stay unseen.
                spec: with_data_box(spec, objective.fitted_rows()),
                objective,
                data,
            }
        }
        Target::Energy(e) if pairing.is_some() => {
            return Err(format!(
                "flow matching needs samples of the target, and {} is an energy (a density without samples): fit it by reverse KL (--objective kl)",
                e.name()
            ));
        }
        Target::Energy(e) => TargetProblem {
            spec: with_energy_box(spec, e),
            objective: Objective::reverse_kl(e, t.beta0, t.anneal_steps),
            data: Vec::new(),
        },
    })
}

/// The energy's box as the flow's support.
fn with_energy_box(spec: FlowSpec, e: Energy) -> FlowSpec {
    let b = e.bounds();
    spec.with_support(
        vec![b.x.0 as f32, b.y.0 as f32],
        vec![b.x.1 as f32, b.y.1 as f32],
    )
}

/// Regression onto `log p` at `data_points` points drawn from the target: `log p = −U − log Z`
/// for an energy (points from [`Energy::sample_by_grid`]), the known density of a sample set.
fn regression_problem(
    target: Target,
    spec: FlowSpec,
    t: &TargetTraining,
) -> Result<TargetProblem, String> {
    let mut rng = Rng::new(t.seed ^ 0x8E6);
    let n = t.data_points.max(1);
    let (spec, points, log_density): (FlowSpec, Vec<f32>, Vec<f32>) = match target {
        Target::Energy(e) => {
            let log_z = e.log_normalizer(400);
            let points = e.sample_by_grid(n, 400, &mut rng);
            let lp = points
                .chunks(2)
                .map(|p| (-e.energy(p[0] as f64, p[1] as f64) - log_z) as f32)
                .collect();
            (with_energy_box(spec, e), points, lp)
        }
        Target::Samples(set) => {
            let points = set.sample(n, &mut rng);
            let lp: Option<Vec<f32>> = points
                .chunks(2)
                .map(|p| set.log_density(p[0] as f64, p[1] as f64).map(|v| v as f32))
                .collect();
            let Some(lp) = lp else {
                let known: Vec<&str> = SampleSet::ALL
                    .iter()
                    .filter(|s| s.log_density(0.0, 0.0).is_some())
                    .map(|s| s.name())
                    .chain(Energy::ALL.iter().map(|e| e.name()))
                    .collect();
                return Err(format!(
                    "regression needs a known log-density, and the density of {} is not known: use one of {}",
                    set.name(),
                    known.join(", ")
                ));
            };
            (with_data_box(spec, &points), points, lp)
        }
    };
    Ok(TargetProblem {
        spec,
        objective: Objective::Regression {
            dim: 2,
            points: points.clone(),
            log_density,
        },
        data: points,
    })
}

/// mbank's flow gets a box around `data` (the rows it is fitted to): their extent, to which
/// the box adds a learnt margin of at least 25 % of the width on each side
/// ([`crate::flows::tanh`]; mbank initialises its tanh box from the data's bounds); other
/// flows are unchanged.
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
    // A constant coordinate still gets a box of some width.
    for (l, h) in low.iter_mut().zip(high.iter_mut()) {
        if *h - *l < 1e-3 {
            *l -= 5e-4;
            *h += 5e-4;
        }
    }
    FlowSpec {
        learn_box: true,
        ..spec.with_support(low, high)
    }
}
