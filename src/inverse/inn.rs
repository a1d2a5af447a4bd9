//! The invertible network with partitioned outputs of Ardizzone et al. 2019 ("Analyzing
//! inverse problems with invertible neural networks", arXiv:1808.04730): one bijection `g` of
//! `N = m + D` numbers maps `[θ, 0]` (θ padded with `m` zeros) to `[ŷ, z]`, a prediction of the
//! observation and `D` latent numbers. Training makes `ŷ` predict `y` and `z` independent of it
//! and standard normal; then the posterior is `θ = g⁻¹([y, z])_{:D}`, `z ~ N(0, I)`.
//!
//! Losses on a batch of simulated pairs (paper §3.3; the weights are FrEIA's inverse-problem
//! example's: `λ_y = 3`, `λ_z = 300`, `λ_x = 400`):
//! - `L_y = mean ‖ŷ − y‖²` (supervised, forward);
//! - `L_z = MMD²([sg(ŷ), z], [y, ε])`, `ε ~ N(0, I)` (the output's joint is `p(y) N(0, I)`; the
//!   stop-gradient `sg` keeps this term from moving `ŷ`);
//! - `L_x = MMD²(g⁻¹([y, ε])_{:D}, θ')`, `θ' ~ p(θ)` a fresh prior batch (backward: the
//!   generated θ's marginal is the prior's), and `λ_y · mean ‖g⁻¹([y, ε])_{D:}‖²` keeps the
//!   padding at zero.
//!
//! `MMD²` is the biased V-statistic with the inverse multiquadric kernels of
//! [`super::metrics::MMD_BANDWIDTHS`]. The INN has no tractable `log q(θ | y)` (its density
//! lives in the padded space), so the KL from `log q` is not reported for it.
//!
//! # Shapes
//! `θ [batch, D]`, `y [batch, m]`, `g: [batch, N] ↔ [batch, N]`.

use burn::tensor::{Device, Tensor, TensorData};

use super::metrics::MMD_BANDWIDTHS;
use super::problems::Problem;
use crate::flows::coupling::{CouplingConfig, alternating_mask};
use crate::flows::permutation::PermutationConfig;
use crate::flows::{BaseConfig, Flow, FlowConfig, LayerConfig};
use crate::rng::Rng;

/// The loss weights `(λ_y, λ_z, λ_x)`.
pub const WEIGHTS: (f32, f32, f32) = (3.0, 300.0, 400.0);

/// `N = m + D`.
pub fn width(problem: Problem) -> usize {
    problem.obs_dim() + problem.theta_dim()
}

/// The INN for `problem`: `layers` affine couplings (alternating masks, a seeded random
/// permutation after each but the last) of `N` numbers.
pub fn config(problem: Problem, layers: usize, hidden: usize) -> FlowConfig {
    let n = width(problem);
    let mut list = Vec::new();
    for k in 0..layers {
        list.push(LayerConfig::Coupling(
            CouplingConfig::new(alternating_mask(n, k)).with_hidden(hidden),
        ));
        if k + 1 < layers {
            list.push(LayerConfig::Permutation(PermutationConfig::random(
                n,
                k as u64 + 1,
            )));
        }
    }
    FlowConfig {
        layers: list,
        base: BaseConfig::StandardNormal { dim: n },
        embedding: None,
        head: None,
    }
}

/// Biased `MMD²` between `a [n, k]` and `b [n, k]` with the inverse multiquadric kernels.
pub fn mmd2(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let k = |x: Tensor<2>, y: Tensor<2>| {
        let xx = x.clone().square().sum_dim(1);
        let yy = y.clone().square().sum_dim(1).transpose();
        let d2 = (xx + yy - x.matmul(y.transpose()).mul_scalar(2.0)).clamp_min(0.0);
        MMD_BANDWIDTHS
            .iter()
            .map(|h| {
                let h2 = (h * h) as f32;
                d2.clone().add_scalar(h2).recip().mul_scalar(h2)
            })
            .reduce(|p, q| p + q)
            .expect("bandwidths")
            .mean()
    };
    k(a.clone(), a.clone()) + k(b.clone(), b.clone()) - k(a, b).mul_scalar(2.0)
}

/// `g⁻¹([y, ε])`'s first `D` columns (θ) and its padding, for `y [n, m]`.
fn backward(flow: &Flow, y: Tensor<2>, eps: Tensor<2>, d: usize) -> (Tensor<2>, Tensor<2>) {
    let m = y.dims()[1];
    let (x, _) = flow.inverse(Tensor::cat(vec![y, eps], 1));
    (x.clone().narrow(1, 0, d), x.narrow(1, d, m))
}

/// The training loss on a batch `θ [n, D]`, `y [n, m]`; `prior` is a fresh prior batch
/// `[n, D]` and `rng` draws the latent samples.
pub fn loss(
    flow: &Flow,
    theta: Tensor<2>,
    y: Tensor<2>,
    prior: Tensor<2>,
    rng: &mut Rng,
) -> Tensor<1> {
    let [n, d] = theta.dims();
    let m = y.dims()[1];
    let device = theta.device();
    let (wy, wz, wx) = WEIGHTS;
    let normals = |rng: &mut Rng| {
        Tensor::<2>::from_data(TensorData::new(rng.normals_f32(n * d), [n, d]), &device)
    };
    let padded = Tensor::cat(vec![theta, Tensor::zeros([n, m], &device)], 1);
    let (out, _) = flow.transform_to_noise(padded);
    let y_hat = out.clone().narrow(1, 0, m);
    let z = out.narrow(1, m, d);
    let l_y = (y_hat.clone() - y.clone()).square().sum_dim(1).mean();
    let l_z = mmd2(
        Tensor::cat(vec![y_hat.detach(), z], 1),
        Tensor::cat(vec![y.clone(), normals(rng)], 1),
    );
    let (theta_gen, pad) = backward(flow, y, normals(rng), d);
    let l_x = mmd2(theta_gen, prior);
    let l_pad = pad.square().sum_dim(1).mean();
    (l_y + l_pad).mul_scalar(wy) + l_z.mul_scalar(wz) + l_x.mul_scalar(wx)
}

/// `n` posterior draws `θ = g⁻¹([y, z])_{:D}` for each observation of `ys [k, m]`, rows
/// `i·n .. (i+1)·n` for observation `i`.
pub fn sample(
    flow: &Flow,
    ys: &[f32],
    m: usize,
    d: usize,
    n: usize,
    rng: &mut Rng,
    device: &Device,
) -> Tensor<2> {
    let y = crate::flows::each_row_n_times(ys, m, n, device);
    let rows = y.dims()[0];
    let eps = Tensor::<2>::from_data(
        TensorData::new(rng.normals_f32(rows * d), [rows, d]),
        device,
    );
    backward(flow, y, eps, d).0
}
