//! Tensor helpers the layers share: per-row sums, constant rows and masks, the context a
//! conditional layer reads, chains of layers with ReLU between them, the soft clamp of
//! log-scales.

use burn::tensor::{Device, Tensor};

/// The context a conditional layer feeds its conditioner: `c [batch, C]` as given, or zeros
/// when none was (an unconditional call into a conditional layer).
pub(crate) fn context_or_zeros(
    context: Option<&Tensor<2>>,
    like: &Tensor<2>,
    size: usize,
) -> Tensor<2> {
    match context {
        Some(c) => c.clone(),
        None => Tensor::zeros([like.dims()[0], size], &like.device()),
    }
}

/// The rows of `contexts [k, m]` (row-major), each repeated `n` times in place: `[k·n, m]`,
/// the context of `n` draws or scored rows per context (`k = 1`: one context for a whole batch).
pub fn each_row_n_times(contexts: &[f32], m: usize, n: usize, device: &Device) -> Tensor<2> {
    let rows: Vec<f32> = contexts
        .chunks(m)
        .flat_map(|c| std::iter::repeat_n(c, n).flatten().copied())
        .collect();
    let k = rows.len() / m;
    Tensor::from_data(burn::tensor::TensorData::new(rows, [k, m]), device)
}

/// `Σ_j t[:, j]` as a `[batch]` tensor.
pub(crate) fn sum_rows(t: Tensor<2>) -> Tensor<1> {
    t.sum_dim(1).squeeze_dim::<1>(1)
}

/// A `[batch]` tensor of zeros matching `x`'s batch.
pub(crate) fn zeros_like_batch(x: &Tensor<2>) -> Tensor<1> {
    let [n, _] = x.dims();
    Tensor::zeros([n], &x.device())
}

/// A constant `[1, len]` row from host values.
pub(crate) fn row(values: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(
        burn::tensor::TensorData::new(values.to_vec(), [1, values.len()]),
        device,
    )
}

/// A binary mask as a constant `[1, len]` row of 0/1 values.
pub(crate) fn mask_row(mask: &[bool], device: &Device) -> Tensor<2> {
    let m: Vec<f32> = mask.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    row(&m, device)
}

/// `layers[k](h)` in turn with ReLU between them (not after the last).
pub(crate) fn relu_chain<L>(
    layers: &[L],
    x: Tensor<2>,
    apply: impl Fn(&L, Tensor<2>) -> Tensor<2>,
) -> Tensor<2> {
    crate::fused::mlp::layer_chain(layers, x, |layer, h, hidden| {
        let h = apply(layer, h);
        if hidden {
            burn::tensor::activation::relu(h)
        } else {
            h
        }
    })
}

/// Soft clamp `c·tanh(x/c)`: identity near 0, bounded by ±c. Keeps log-scales finite.
pub(crate) fn soft_clamp<const D: usize>(x: Tensor<D>, c: f32) -> Tensor<D> {
    x.div_scalar(c).tanh().mul_scalar(c)
}
