//! The amortised posterior as a conditional flow (Papamakarios & Murray 2016; Radev et al.
//! 2020's BayesFlow; Ardizzone et al. 2019's cINN): `q(θ | y)` is a flow over `θ` whose
//! couplings and base read the observation `y` as context, trained by maximum likelihood on
//! simulated pairs, `L = −E_{(θ, y) ~ p(θ) p(y | θ)} log q(θ | y)` — which minimises
//! `E_y KL(p(θ | y) ‖ q(θ | y))` (the forward KL to the true posterior, averaged over data).
//!
//! Architecture: `layers` conditional rational-quadratic spline couplings (8 bins on `[−5, 5]`,
//! alternating masks, a seeded random permutation between them when `θ` has more than two
//! coordinates) over a context-network Gaussian base `N(μ(y), diag σ(y)²)`.
//!
//! # Shapes
//! `θ [batch, D]`, `y [batch, m]` (the context), log-densities `[batch]`.

use burn::tensor::{Device, Tensor};

use super::problems::Problem;
use crate::flows::base::ConditionalGaussianConfig;
use crate::flows::coupling::alternating_mask;
use crate::flows::permutation::PermutationConfig;
use crate::flows::spline::SplineCouplingConfig;
use crate::flows::{BaseConfig, Flow, FlowConfig, LayerConfig};
use crate::rng::Rng;

/// The conditional flow for `problem`.
pub fn config(problem: Problem, layers: usize, hidden: usize) -> FlowConfig {
    let (d, m) = (problem.theta_dim(), problem.obs_dim());
    let mut list = Vec::new();
    for k in 0..layers {
        list.push(LayerConfig::Spline(
            SplineCouplingConfig::new(alternating_mask(d, k))
                .with_hidden(hidden)
                .with_bins(8)
                .with_tail_bound(5.0)
                .with_context(Some(m)),
        ));
        if d > 2 && k + 1 < layers {
            list.push(LayerConfig::Permutation(PermutationConfig::random(
                d,
                k as u64 + 1,
            )));
        }
    }
    FlowConfig {
        layers: list,
        base: BaseConfig::ConditionalGaussian(
            ConditionalGaussianConfig::new(d, m).with_hidden(hidden),
        ),
        embedding: None,
        head: None,
    }
}

/// `−mean log q(θ | y)` over a batch (the training loss, `[1]`).
pub fn loss(flow: &Flow, theta: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    flow.log_prob_given(theta, Some(&y)).mean().neg()
}

/// `n` draws of `q(θ | y)` for each of the observations `ys [k, m]`: `([k·n, D], log q [k·n])`,
/// the `n` draws of observation `i` in rows `i·n .. (i+1)·n`.
pub fn sample(
    flow: &Flow,
    ys: &[f32],
    m: usize,
    n: usize,
    rng: &mut Rng,
    device: &Device,
) -> (Tensor<2>, Tensor<1>) {
    let c = crate::flows::each_row_n_times(ys, m, n, device);
    let rows = c.dims()[0];
    flow.sample_at_temperature_given(rows, 1.0, Some(&c), rng, device)
}
