//! Continuous normalizing flow: one layer whose map is the solution of an ODE
//! (Chen et al. 2018, arXiv:1806.07366; FFJORD, Grathwohl et al. 2019, arXiv:1810.01367;
//! flow matching, Lipman et al. 2023, arXiv:2210.02747).
//!
//! Time runs from the noise (`t = 0`) to the data (`t = 1`), as in flow matching:
//! `dx/dt = v(x, t)` ([`velocity`]). The layer's density direction (data → noise) integrates
//! from `t = 1` down to `0`, its generative direction from `0` up to `1`, and the log-det is the
//! instantaneous change of variables carried alongside:
//!
//! `log|det ∂z/∂x| = −∫₀¹ tr ∂v/∂x (x(t), t) dt`,  `log|det ∂x/∂z| = +∫₀¹ tr ∂v/∂x dt`,
//!
//! so in a [`Flow`](super::Flow) with a standard-normal base,
//! `log p(x) = log N(z; 0, I) − ∫₀¹ tr ∂v/∂x dt` — the exact log-likelihood (up to the
//! solver's error) that every other family reports, which is what makes a CNF comparable
//! with them on the same validation data.
//!
//! Training: by maximum likelihood through the solver (FFJORD: the flow's ordinary forward KL),
//! or by conditional flow matching ([`Cnf::flow_matching_loss`], `crate::train::flow_matching`).
//!
//! # Shapes
//! Inputs `[batch, dim]`, log-dets `[batch]`; the field's parameters in [`velocity`].

pub mod solver;
pub mod velocity;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::validate::{MAX_HIDDEN, MAX_HIDDEN_LAYERS, dim, in_range};
use super::{Bijection, LayerSpec};
pub use solver::Solver;
use solver::{Field, integrate};
pub use velocity::{TraceEstimator, Velocity, time_features, time_features_at};

/// Config of [`Cnf`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CnfConfig {
    pub dim: usize,
    /// Width of the velocity MLP.
    pub hidden: usize,
    /// Hidden-to-hidden layers of the velocity MLP (its depth is this plus two).
    pub hidden_layers: usize,
    /// Sine/cosine pairs of the time embedding.
    pub frequencies: usize,
    pub solver: Solver,
    pub trace: TraceEstimator,
}

impl CnfConfig {
    /// Width 64, two hidden-to-hidden layers, four frequencies, RK4 with 16 steps, exact trace.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            hidden: 64,
            hidden_layers: 2,
            frequencies: 4,
            solver: Solver::Rk4 { steps: 16 },
            trace: TraceEstimator::Exact,
        }
    }

    pub fn with_hidden(mut self, hidden: usize) -> Self {
        self.hidden = hidden;
        self
    }

    pub fn with_hidden_layers(mut self, layers: usize) -> Self {
        self.hidden_layers = layers;
        self
    }

    pub fn with_solver(mut self, solver: Solver) -> Self {
        self.solver = solver;
        self
    }

    pub fn with_trace(mut self, trace: TraceEstimator) -> Self {
        self.trace = trace;
        self
    }

    fn features(&self) -> usize {
        1 + 2 * self.frequencies
    }

    pub fn init(&self, device: &Device) -> Cnf {
        Cnf {
            field: Velocity::new(
                self.dim,
                self.hidden,
                self.hidden_layers,
                self.features(),
                device,
            ),
            config: self.clone(),
        }
    }
}

/// A continuous flow layer.
#[derive(Module, Debug)]
pub struct Cnf {
    pub field: Velocity,
    #[module(skip)]
    pub config: CnfConfig,
}

/// The field at one time for the whole batch, with the configured trace estimator.
struct AtTime<'a> {
    cnf: &'a Cnf,
    trace: TraceEstimator,
}

impl Field for AtTime<'_> {
    fn eval(&self, x: Tensor<2>, t: f32, with_trace: bool) -> (Tensor<2>, Option<Tensor<1>>) {
        let phi = time_features_at(t, self.cnf.config.frequencies, &x.device());
        if with_trace {
            let (v, tr) = self.cnf.field.forward_with_trace(x, phi, self.trace);
            (v, Some(tr))
        } else {
            (self.cnf.field.forward(x, phi), None)
        }
    }
}

impl Cnf {
    fn at_time(&self) -> AtTime<'_> {
        AtTime {
            cnf: self,
            trace: self.config.trace,
        }
    }

    /// `v(x, t)` at one time `t` for every row.
    pub fn velocity(&self, x: Tensor<2>, t: f32) -> Tensor<2> {
        let phi = time_features_at(t, self.config.frequencies, &x.device());
        self.field.forward(x, phi)
    }

    /// Noise → data in `segments` equal stretches of time: the state and the segment's
    /// `log|det ∂x/∂z|` at `t = 1/n, 2/n, …, 1` (each stretch integrated by RK4 with its share of
    /// the configured steps, at least one). The page's layer scrubber shows these as a CNF's
    /// stages.
    pub fn inverse_segments(&self, z: Tensor<2>, segments: usize) -> Vec<(Tensor<2>, Tensor<1>)> {
        let n = segments.max(1);
        let steps = match self.config.solver {
            Solver::Rk4 { steps } => steps,
            Solver::Dopri5 { .. } => solver::WASM_FALLBACK_STEPS,
        };
        let per_segment = Solver::Rk4 {
            steps: steps.div_ceil(n).max(1),
        };
        let mut x = z;
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let (t0, t1) = (k as f32 / n as f32, (k + 1) as f32 / n as f32);
            let (next, logdet) = integrate(per_segment, &self.at_time(), x, t0, t1, true);
            x = next.clone();
            out.push((next, logdet));
        }
        out
    }

    /// Conditional flow matching on the straight path (rectified flow; Lipman et al. 2023 with
    /// `σ_min = 0`, Liu et al. 2022): for data `x₁`, noise `x₀` and times `t` (one per row),
    /// `x_t = (1 − t) x₀ + t x₁` and the loss is `mean_rows ‖v(x_t, t) − (x₁ − x₀)‖²` (summed
    /// over coordinates), whose minimiser is the marginal velocity that carries `N(0, I)` to
    /// the data.
    ///
    /// `x1, x0 [B, D]`, `t [B, 1]`; returns `[1]`.
    pub fn flow_matching_loss(&self, x1: Tensor<2>, x0: Tensor<2>, t: Tensor<2>) -> Tensor<1> {
        let xt = x0.clone() * t.clone().neg().add_scalar(1.0) + x1.clone() * t.clone();
        let target = x1 - x0;
        let phi = time_features(t, self.config.frequencies);
        let v = self.field.forward(xt, phi);
        (v - target).square().sum_dim(1).mean()
    }
}

impl Bijection for Cnf {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        integrate(self.config.solver, &self.at_time(), x, 1.0, 0.0, true)
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        integrate(self.config.solver, &self.at_time(), z, 0.0, 1.0, true)
    }

    fn forward_points(&self, x: Tensor<2>) -> Tensor<2> {
        integrate(self.config.solver, &self.at_time(), x, 1.0, 0.0, false).0
    }

    fn inverse_points(&self, z: Tensor<2>) -> Tensor<2> {
        integrate(self.config.solver, &self.at_time(), z, 0.0, 1.0, false).0
    }
}

impl LayerSpec for CnfConfig {
    fn name(&self) -> &'static str {
        "cnf"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dim("dim", self.dim)?;
        in_range("hidden", self.hidden, 1, MAX_HIDDEN)?;
        in_range("hidden layers", self.hidden_layers, 0, MAX_HIDDEN_LAYERS)?;
        in_range("time frequencies", self.frequencies, 0, 64)?;
        self.solver.check()
    }

    fn allocation_bound(&self) -> u128 {
        Velocity::parameter_count(self.dim, self.hidden, self.hidden_layers, self.features())
    }
}

#[cfg(test)]
mod tests;
