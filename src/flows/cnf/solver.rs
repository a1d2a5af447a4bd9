//! ODE solvers for a continuous flow's augmented state `(x, ℓ)` with `dx/dt = v(x, t)` and
//! `dℓ/dt = tr ∂v/∂x`, integrated from `t₀` to `t₁` (either direction). Every operation is a
//! tensor operation, so gradients flow through the steps (FFJORD's maximum likelihood by
//! backpropagation through the solver; the adjoint method saves memory, not needed at 2D sizes).
//!
//! - **RK4** (fixed step, the default): classical fourth-order Runge–Kutta, `n` steps of
//!   `h = (t₁ − t₀)/n`; error `O(h⁴)`; four field evaluations a step.
//! - **Dormand–Prince 5(4)** (adaptive; Dormand & Prince 1980, the `dopri5` of `torchdiffeq`
//!   and SciPy's `RK45`): the fifth-order solution with the embedded fourth-order one as the
//!   error estimate, step accepted when `max_rows RMS(err / (atol + rtol·max(|y₀|, |y₁|))) ≤ 1`,
//!   the next step `h · clamp(0.9·err^(−1/5), 0.2, 10)`, and at least `|t₁ − t₀|/max_steps` (so
//!   the cost is bounded). Choosing the step reads one number back each try, so it runs
//!   natively and on the CPU backend; in the page's wasm build it falls back to RK4 with
//!   [`WASM_FALLBACK_STEPS`] steps.
//!
//! # Shapes
//! `x [B, D]`, `ℓ [B]`; the field maps `(x, t)` to `(v [B, D], tr [B])`.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Steps of the RK4 fallback for an adaptive solver where reads cannot block (wasm).
pub const WASM_FALLBACK_STEPS: usize = 32;

/// Which solver integrates the ODE.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Solver {
    /// Fixed-step fourth-order Runge–Kutta.
    Rk4 { steps: usize },
    /// Adaptive Dormand–Prince 5(4).
    Dopri5 {
        rtol: f32,
        atol: f32,
        max_steps: usize,
    },
}

impl Solver {
    /// The numbers are usable (the error names the first that is not).
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Self::Rk4 { steps } => {
                super::super::validate::in_range("solver steps", steps, 1, 10_000)
            }
            Self::Dopri5 {
                rtol,
                atol,
                max_steps,
            } => {
                super::super::validate::positive_finite("rtol", rtol)?;
                super::super::validate::positive_finite("atol", atol)?;
                super::super::validate::in_range("max solver steps", max_steps, 1, 100_000)
            }
        }
    }

    /// The same solver with fewer steps for a quick look (the page's preview): RK4 at
    /// `steps`, an adaptive solver unchanged.
    pub fn with_rk4_steps(self, steps: usize) -> Self {
        match self {
            Self::Rk4 { .. } => Self::Rk4 { steps },
            other => other,
        }
    }
}

/// The augmented field: `(x, t) → (v, tr)`; `tr` is `None` when no log-det is carried.
pub trait Field {
    fn eval(&self, x: Tensor<2>, t: f32, with_trace: bool) -> (Tensor<2>, Option<Tensor<1>>);
}

/// `x(t₁)` and `∫_{t₀}^{t₁} tr dt` (zeros when `with_trace` is false) from `x(t₀) = x`.
pub fn integrate(
    solver: Solver,
    field: &impl Field,
    x: Tensor<2>,
    t0: f32,
    t1: f32,
    with_trace: bool,
) -> (Tensor<2>, Tensor<1>) {
    match solver {
        Solver::Rk4 { steps } => rk4(field, x, t0, t1, steps, with_trace),
        #[cfg(target_arch = "wasm32")]
        Solver::Dopri5 { .. } => rk4(field, x, t0, t1, WASM_FALLBACK_STEPS, with_trace),
        #[cfg(not(target_arch = "wasm32"))]
        Solver::Dopri5 {
            rtol,
            atol,
            max_steps,
        } => dopri5(field, x, t0, t1, (rtol, atol, max_steps), with_trace),
    }
}

fn zeros(x: &Tensor<2>) -> Tensor<1> {
    Tensor::zeros([x.dims()[0]], &x.device())
}

/// `y + Σ_i c_i k_i` for the state part and the log-det part.
fn combine(
    x: &Tensor<2>,
    l: &Tensor<1>,
    ks: &[(Tensor<2>, Option<Tensor<1>>)],
    coefficients: &[f32],
) -> (Tensor<2>, Tensor<1>) {
    let mut x = x.clone();
    let mut l = l.clone();
    for ((kx, kl), &c) in ks.iter().zip(coefficients) {
        if c == 0.0 {
            continue;
        }
        x = x + kx.clone().mul_scalar(c);
        if let Some(kl) = kl {
            l = l + kl.clone().mul_scalar(c);
        }
    }
    (x, l)
}

fn rk4(
    field: &impl Field,
    x: Tensor<2>,
    t0: f32,
    t1: f32,
    steps: usize,
    with_trace: bool,
) -> (Tensor<2>, Tensor<1>) {
    let h = (t1 - t0) / steps as f32;
    let mut l = zeros(&x);
    let mut x = x;
    for i in 0..steps {
        let t = t0 + i as f32 * h;
        let k1 = field.eval(x.clone(), t, with_trace);
        let (x2, _) = combine(&x, &l, std::slice::from_ref(&k1), &[h / 2.0]);
        let k2 = field.eval(x2, t + h / 2.0, with_trace);
        let (x3, _) = combine(&x, &l, std::slice::from_ref(&k2), &[h / 2.0]);
        let k3 = field.eval(x3, t + h / 2.0, with_trace);
        let (x4, _) = combine(&x, &l, std::slice::from_ref(&k3), &[h]);
        let k4 = field.eval(x4, t + h, with_trace);
        (x, l) = combine(
            &x,
            &l,
            &[k1, k2, k3, k4],
            &[h / 6.0, h / 3.0, h / 3.0, h / 6.0],
        );
    }
    (x, l)
}

/// Dormand–Prince nodes `c_i` and stage coefficients `a_ij`.
#[cfg(not(target_arch = "wasm32"))]
const DP_C: [f32; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
#[cfg(not(target_arch = "wasm32"))]
const DP_A: [[f32; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// The fifth-order weights minus the embedded fourth-order ones (the error estimate).
#[cfg(not(target_arch = "wasm32"))]
const DP_E: [f32; 7] = [
    35.0 / 384.0 - 5179.0 / 57600.0,
    0.0,
    500.0 / 1113.0 - 7571.0 / 16695.0,
    125.0 / 192.0 - 393.0 / 640.0,
    -2187.0 / 6784.0 + 92097.0 / 339_200.0,
    11.0 / 84.0 - 187.0 / 2100.0,
    -1.0 / 40.0,
];

/// The error tolerance per entry, `atol + rtol · max(|a|, |b|)`.
#[cfg(not(target_arch = "wasm32"))]
fn error_scale<const D: usize>(a: &Tensor<D>, b: &Tensor<D>, rtol: f32, atol: f32) -> Tensor<D> {
    a.clone()
        .abs()
        .max_pair(b.clone().abs())
        .mul_scalar(rtol)
        .add_scalar(atol)
}

#[cfg(not(target_arch = "wasm32"))]
fn dopri5(
    field: &impl Field,
    x: Tensor<2>,
    t0: f32,
    t1: f32,
    (rtol, atol, max_steps): (f32, f32, usize),
    with_trace: bool,
) -> (Tensor<2>, Tensor<1>) {
    let span = t1 - t0;
    let direction = span.signum();
    let min_step = span.abs() / max_steps as f32;
    let mut h = (span.abs() / 10.0).max(min_step);
    let mut l = zeros(&x);
    let mut x = x;
    let mut t = t0;
    // The field at (x, t): the last stage of an accepted step is evaluated at its solution and
    // time, so it is the next step's first stage ("first same as last"); a rejected step keeps
    // its first stage. Either way each try evaluates six stages, not seven.
    let mut first: Option<(Tensor<2>, Option<Tensor<1>>)> = None;
    while (t1 - t) * direction > 1e-6 {
        h = h.min((t1 - t).abs());
        let signed = h * direction;
        let mut ks: Vec<(Tensor<2>, Option<Tensor<1>>)> = Vec::with_capacity(7);
        ks.push(
            first
                .take()
                .unwrap_or_else(|| field.eval(x.clone(), t, with_trace)),
        );
        // The fifth-order solution is the last stage's point.
        let (mut x_new, mut l_new) = (x.clone(), l.clone());
        for stage in 1..7 {
            let coefficients: Vec<f32> = DP_A[stage][..stage].iter().map(|a| a * signed).collect();
            (x_new, l_new) = combine(&x, &l, &ks, &coefficients);
            ks.push(field.eval(x_new.clone(), t + DP_C[stage] * signed, with_trace));
        }
        let errors: Vec<f32> = DP_E.iter().map(|e| e * signed).collect();
        let (err_x, err_l) = combine(&x.zeros_like(), &zeros(&x), &ks, &errors);
        let [b, d] = x.dims();
        let ratio = (err_x / error_scale(&x, &x_new, rtol, atol))
            .detach()
            .square()
            .sum_dim(1)
            .reshape([b])
            + (err_l / error_scale(&l, &l_new, rtol, atol))
                .detach()
                .square()
                .mul_scalar(if with_trace { 1.0 } else { 0.0 });
        let parts = d as f32 + if with_trace { 1.0 } else { 0.0 };
        let err = (crate::readback::scalar(ratio.max()) as f32 / parts).sqrt();
        if err <= 1.0 || h <= min_step * 1.0001 {
            x = x_new;
            l = l_new;
            t += signed;
            first = ks.pop();
        } else {
            first = Some(ks.swap_remove(0));
        }
        let factor = if err > 0.0 {
            (0.9 * err.powf(-0.2)).clamp(0.2, 10.0)
        } else {
            10.0
        };
        h = (h * factor).max(min_step);
    }
    (x, l)
}
