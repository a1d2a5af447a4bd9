//! Conditional flow matching for a continuous flow ([`crate::flows::cnf`]): the batch rows and
//! the loss.
//!
//! A training row is `[x₁ (D), x₀ (D), t]`: a data point, a base draw `x₀ ~ N(0, I)` and a time
//! `t ~ U(0, 1)`, all drawn on the host from the trainer's generator, so a block of rows is a
//! batch in its own right (the data-parallel replicas split them like forward-KL rows). The
//! loss regresses the velocity at `x_t = (1 − t)x₀ + t x₁` onto `x₁ − x₀`
//! ([`crate::flows::cnf::Cnf::flow_matching_loss`]).
//!
//! **Pairing.** `Independent` draws `x₀` independently of `x₁` (Lipman et al. 2023; rectified
//! flow). `MinibatchOt` (Tong et al. 2024, "Improving and generalizing flow-based generative
//! models with minibatch optimal transport", arXiv:2302.00482; Pooladian et al. 2023) re-pairs
//! the base draws with the data points by the exact assignment minimising `Σ‖x₁ − x₀‖²`,
//! within blocks of [`OT_BLOCK`] rows (the Hungarian algorithm is `O(n³)`; a block of 64 costs
//! well under a millisecond): the paths cross less, so the learnt field is straighter and few
//! solver steps suffice.
//!
//! Layers before the CNF (the data-initialised ActNorm, a support's tanh box) map the data to
//! `x₁` with gradients detached: flow matching trains the field only, and those layers stay
//! at their initialisation (a loss on their output would shrink the data to shrink itself).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::flows::{Bijection, Flow, FlowConfig, Layer, LayerConfig, base::BaseConfig};
use crate::rng::Rng;

/// Rows per block of the minibatch OT assignment.
pub const OT_BLOCK: usize = 64;

/// How base draws are paired with data points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Pairing {
    /// Independent draws (rectified flow).
    #[default]
    Independent,
    /// Exact OT assignment within blocks of [`OT_BLOCK`] rows.
    MinibatchOt,
}

/// Whether `config` can be trained by flow matching: its last layer is a CNF, the layers
/// before it act on whole rows, nothing is conditional, and the base is `N(0, I)`.
pub fn check(config: &FlowConfig) -> Result<(), String> {
    match config.layers.last() {
        Some(LayerConfig::Cnf(_)) => {}
        _ => return Err("flow matching trains a continuous flow: the flow's last layer must be a cnf layer (--flow cnf)".into()),
    }
    if config.layers.iter().any(|l| l.acts_on_prefix()) || config.context() > 0 {
        return Err("flow matching needs an unconditional flow on whole rows".into());
    }
    if !matches!(config.base, BaseConfig::StandardNormal { .. }) {
        return Err("flow matching needs a standard-normal base".into());
    }
    Ok(())
}

/// `batch` rows `[x₁, x₀, t]` (row-major, `2D + 1` wide) for data points `x1` (`[batch, D]`).
pub fn rows(x1: &[f32], dim: usize, pairing: Pairing, rng: &mut Rng) -> Vec<f32> {
    let batch = x1.len() / dim;
    let mut x0 = rng.normals_f32(batch * dim);
    if pairing == Pairing::MinibatchOt {
        for start in (0..batch).step_by(OT_BLOCK) {
            let n = OT_BLOCK.min(batch - start);
            let data = &x1[start * dim..(start + n) * dim];
            let noise = &mut x0[start * dim..(start + n) * dim];
            pair_by_ot(data, noise, dim);
        }
    }
    let mut out = Vec::with_capacity(batch * (2 * dim + 1));
    for i in 0..batch {
        out.extend_from_slice(&x1[i * dim..(i + 1) * dim]);
        out.extend_from_slice(&x0[i * dim..(i + 1) * dim]);
        out.push(rng.uniform() as f32);
    }
    out
}

/// Reorders `noise` so that row `i` of `noise` is the one assigned to row `i` of `data` by the
/// assignment of least total squared distance.
fn pair_by_ot(data: &[f32], noise: &mut [f32], dim: usize) {
    let n = data.len() / dim;
    let cost: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            (0..dim)
                .map(|c| (data[i * dim + c] - noise[j * dim + c]) as f64)
                .map(|d| d * d)
                .sum()
        })
        .collect();
    let assignment = hungarian(&cost, n);
    let original = noise.to_vec();
    for (i, &j) in assignment.iter().enumerate() {
        noise[i * dim..(i + 1) * dim].copy_from_slice(&original[j * dim..(j + 1) * dim]);
    }
}

/// The minimum-cost perfect assignment of an `n×n` cost matrix (row-major): `assignment[row] =
/// column`. Kuhn–Munkres with potentials and shortest augmenting paths, `O(n³)`.
pub fn hungarian(cost: &[f64], n: usize) -> Vec<usize> {
    // 1-based potentials u (rows), v (columns); way/matched columns; column 0 is a sentinel.
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut matched = vec![0usize; n + 1]; // matched[col] = row (1-based), 0 = free
    let mut way = vec![0usize; n + 1];
    for row in 1..=n {
        matched[0] = row;
        let mut col0 = 0;
        let mut min_to = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[col0] = true;
            let r = matched[col0];
            let mut delta = f64::INFINITY;
            let mut col1 = 0;
            for col in 1..=n {
                if used[col] {
                    continue;
                }
                let reduced = cost[(r - 1) * n + col - 1] - u[r] - v[col];
                if reduced < min_to[col] {
                    min_to[col] = reduced;
                    way[col] = col0;
                }
                if min_to[col] < delta {
                    delta = min_to[col];
                    col1 = col;
                }
            }
            for col in 0..=n {
                if used[col] {
                    u[matched[col]] += delta;
                    v[col] -= delta;
                } else {
                    min_to[col] -= delta;
                }
            }
            col0 = col1;
            if matched[col0] == 0 {
                break;
            }
        }
        loop {
            let prev = way[col0];
            matched[col0] = matched[prev];
            col0 = prev;
            if col0 == 0 {
                break;
            }
        }
    }
    let mut assignment = vec![0; n];
    for col in 1..=n {
        assignment[matched[col] - 1] = col - 1;
    }
    assignment
}

/// The flow-matching loss of `flow` on rows from [`rows`] (`[B, 2D + 1]`), a mean over rows.
/// The flow must pass [`check`].
pub fn loss(flow: &Flow, rows: Tensor<2>) -> Tensor<1> {
    let d = flow.dim();
    let [b, _] = rows.dims();
    let (cnf, before) = match flow.layers.split_last() {
        Some((Layer::Cnf(cnf), before)) => (cnf, before),
        _ => {
            panic!("flow matching needs a flow whose last layer is a cnf (checked before training)")
        }
    };
    let mut x1 = rows.clone().slice([0..b, 0..d]);
    for layer in before {
        x1 = layer.forward(x1).0;
    }
    let x0 = rows.clone().slice([0..b, d..2 * d]);
    let t = rows.slice([0..b, 2 * d..2 * d + 1]);
    cnf.flow_matching_loss(x1.detach(), x0, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over all permutations of a small matrix.
    fn best_by_brute_force(cost: &[f64], n: usize) -> f64 {
        fn go(row: usize, n: usize, used: &mut Vec<bool>, cost: &[f64]) -> f64 {
            if row == n {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for col in 0..n {
                if !used[col] {
                    used[col] = true;
                    best = best.min(cost[row * n + col] + go(row + 1, n, used, cost));
                    used[col] = false;
                }
            }
            best
        }
        go(0, n, &mut vec![false; n], cost)
    }

    #[test]
    fn hungarian_finds_the_cheapest_assignment() {
        let mut rng = Rng::new(3);
        for n in 1..=7 {
            for _ in 0..20 {
                let cost: Vec<f64> = (0..n * n).map(|_| rng.uniform() * 10.0).collect();
                let a = hungarian(&cost, n);
                let mut seen = a.clone();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "not a permutation");
                let total: f64 = a.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum();
                let best = best_by_brute_force(&cost, n);
                assert!((total - best).abs() < 1e-9, "n={n}: {total} vs {best}");
            }
        }
    }

    #[test]
    fn ot_pairing_shortens_the_paths_and_keeps_the_draws() {
        let mut rng = Rng::new(5);
        let dim = 2;
        let data: Vec<f32> = (0..256 * dim).map(|i| (i % 7) as f32 - 3.0).collect();
        let independent = rows(&data, dim, Pairing::Independent, &mut Rng::new(9));
        let paired = rows(&data, dim, Pairing::MinibatchOt, &mut Rng::new(9));
        let w = 2 * dim + 1;
        let length = |r: &[f32]| -> f64 {
            r.chunks(w)
                .map(|row| {
                    (0..dim)
                        .map(|c| ((row[c] - row[dim + c]) as f64).powi(2))
                        .sum::<f64>()
                })
                .sum()
        };
        assert!(length(&paired) < 0.8 * length(&independent));
        // The same base draws, only re-paired: the multiset of noise rows is unchanged.
        let noise = |r: &[f32]| -> Vec<(i64, i64)> {
            let mut v: Vec<_> = r
                .chunks(w)
                .map(|row| ((row[dim] * 1e6) as i64, (row[dim + 1] * 1e6) as i64))
                .collect();
            v.sort();
            v
        };
        // Times are drawn after the noise, so equal seeds give equal draws.
        assert_eq!(noise(&paired), noise(&independent));
        let _ = rng.uniform();
    }
}
