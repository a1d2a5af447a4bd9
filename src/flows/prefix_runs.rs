//! Runs of consecutive layers that act on the same leading columns, so that they share one
//! split of the rows.
//!
//! In a multi-scale flow every layer after the first factor-out acts on the first `k < D`
//! columns of the rows ([`LayerSpec::acts_on_prefix`](super::LayerSpec::acts_on_prefix)): on its
//! own, each would narrow `[n, D]` to `[n, k]` and concatenate the rest back. On a GPU that is a
//! copy forward and, backward, Burn's slice gradient for each of the two pieces (a zero fill and
//! a slice-assign) and an addition: ≈ 6 kernel launches per layer for nothing. A run of layers
//! with the same `k` narrows once, hands its layers rows of exactly `k` columns (for which
//! their own split is a no-op) and joins once. Narrowing and concatenation move values
//! unchanged, so the result is the same to the bit.
//!
//! # Shapes
//! rows `[n, D]`; a run's layers see `[n, k]`; log-dets `[n]`.

use std::ops::Range;

use burn::tensor::Tensor;

use super::LayerConfig;
use super::image::{join_prefix, split_prefix};

/// Layers `layers` (indices into the flow's list) all act on the first `prefix` columns of
/// rows of `D`; `None`: one layer that acts on whole rows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Run {
    pub layers: Range<usize>,
    pub prefix: Option<usize>,
}

/// The flow's layers, in order, as runs over rows of `d` columns.
pub(crate) fn prefix_runs(layers: &[LayerConfig], d: usize) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let prefix = (layer.acts_on_prefix() && layer.dim() < d).then(|| layer.dim());
        match runs.last_mut() {
            Some(run) if prefix.is_some() && run.prefix == prefix => run.layers.end = i + 1,
            _ => runs.push(Run {
                layers: i..i + 1,
                prefix,
            }),
        }
    }
    runs
}

/// Passes `z` through the layers of `runs` by `step(layer index, rows, state)`, first to last
/// (`reverse`: last to first, for the inverse), splitting the rows once per run.
pub(crate) fn through_runs<S>(
    runs: &[Run],
    reverse: bool,
    z: Tensor<2>,
    state: S,
    mut step: impl FnMut(usize, Tensor<2>, S) -> (Tensor<2>, S),
) -> (Tensor<2>, S) {
    in_order(runs.iter(), reverse)
        .into_iter()
        .fold((z, state), |(z, state), run| {
            let (head, rest) = match run.prefix {
                Some(k) => split_prefix(z, k),
                None => (z, None),
            };
            let (head, state) = in_order(run.layers.clone(), reverse)
                .into_iter()
                .fold((head, state), |(rows, state), i| step(i, rows, state));
            (join_prefix(head, rest), state)
        })
}

/// The items first to last, or last to first when `reverse`.
fn in_order<I: DoubleEndedIterator>(items: I, reverse: bool) -> Vec<I::Item> {
    if reverse {
        items.rev().collect()
    } else {
        items.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::image::ImageShape;
    use crate::flows::multiscale::{ImageFlowSpec, Mixer, glow};
    use crate::flows::{Bijection, FlowConfig};
    use crate::testing::gaussian_batch;

    /// A two-scale Glow on 8×8 images, without the logit (its inputs are Gaussian rows).
    fn config() -> FlowConfig {
        let mut spec = ImageFlowSpec::new(ImageShape::new(1, 8, 8), 2, 2, 8, Mixer::Conv1x1Lu);
        spec.logit = false;
        glow(&spec).unwrap()
    }

    /// The runs cover every layer once, in order; whole-row layers stand alone, and a
    /// two-scale Glow's second scale is one run on its half of the columns.
    #[test]
    fn runs_cover_the_layers_in_order_and_group_the_second_scale() {
        let config = config();
        let d = config.base.dim();
        let runs = prefix_runs(&config.layers, d);
        let covered: Vec<usize> = runs.iter().flat_map(|r| r.layers.clone()).collect();
        assert_eq!(covered, (0..config.layers.len()).collect::<Vec<_>>());
        for run in &runs {
            match run.prefix {
                None => assert_eq!(run.layers.len(), 1, "{run:?}"),
                Some(k) => {
                    assert!(k < d);
                    for i in run.layers.clone() {
                        assert!(config.layers[i].acts_on_prefix());
                        assert_eq!(config.layers[i].dim(), k);
                    }
                }
            }
        }
        let longest = runs.iter().map(|r| r.layers.len()).max().unwrap();
        assert!(longest >= 6, "the second scale was not grouped: {runs:?}");
    }

    /// Through the runs, forward and inverse, a multi-scale flow gives what its layers give one
    /// by one (each splitting the rows itself), to the bit.
    #[test]
    fn runs_give_what_the_layers_give_one_by_one() {
        let device = crate::device::cpu();
        let config = config();
        let flow = config
            .init(&device)
            .data_init(gaussian_batch(64, 64, 1.0, 3, &device));
        let x = gaussian_batch(5, 64, 1.0, 4, &device);
        let runs = prefix_runs(&config.layers, 64);
        let zero = Tensor::<1>::zeros([5], &device);
        let (z, ld) = through_runs(&runs, false, x.clone(), zero.clone(), |i, rows, acc| {
            let (rows, l) = flow.layers[i].forward(rows);
            (rows, acc + l)
        });
        let (z1, ld1) = flow
            .layers
            .iter()
            .fold((x, zero.clone()), |(rows, acc), layer| {
                let (rows, l) = layer.forward(rows);
                (rows, acc + l)
            });
        assert_eq!(z.to_data(), z1.to_data());
        assert_eq!(ld.to_data(), ld1.to_data());
        let (x_back, _) = through_runs(&runs, true, z.clone(), zero.clone(), |i, rows, acc| {
            let (rows, l) = flow.layers[i].inverse(rows);
            (rows, acc + l)
        });
        let (x1, _) = flow
            .layers
            .iter()
            .rev()
            .fold((z, zero), |(rows, acc), layer| {
                let (rows, l) = layer.inverse(rows);
                (rows, acc + l)
            });
        assert_eq!(x_back.to_data(), x1.to_data());
    }
}
