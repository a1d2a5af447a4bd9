//! A whole RealNVP affine coupling (Dinh et al. 2017, arXiv:1605.08803) as one forward and one
//! backward pass: the mask, the conditioner's layers ([`crate::linear`]) and the affine
//! transform ([`crate::affine`]), with the intermediates kept for the backward.
//!
//! Forward, per batch: `k = v ⊙ m`, `a₀ = k`, `aᵢ = relu(aᵢ₋₁·Wᵢ + bᵢ)` for the hidden layers,
//! `θ = a_{L−1}·W_L + b_L`, then `[y | log|det|] = affine(θ, v)`. Backward, given
//! `g = ∂L/∂[y | log|det|]`: the affine transform's `(∂θ, ∂v)`, each layer's `(∂a, ∂W, ∂b)` from
//! the last to the first, and `∂v += ∂k ⊙ m` (`v` reaches the output through the transform and
//! through the conditioner's input).
//!
//! The arithmetic is that of the separate operations (the same functions run, in the same
//! order); what one operation saves is the
//! framework's cost per operation (a recorded autodiff step, a fresh tensor and its bookkeeping
//! each), which at a replica's half batch is a sizeable part of a step.
//!
//! # Shapes
//! `v [rows, d]`, `mask [d]`, layer `i`: `W [inᵢ, outᵢ]`, `b [outᵢ]` with `in₀ = d` and
//! `out_L = 2d`; output `[rows, d + 1]`.

use crate::Matrix;
use crate::affine::{self, Affine};
use crate::linear::{self, Needed};

/// One of the conditioner's layers.
#[derive(Clone, Copy)]
pub struct Layer<'a> {
    /// `[in, out]`.
    pub weight: Matrix<'a>,
    /// `[out]`.
    pub bias: &'a [f32],
}

/// What the forward computed: the output and what the backward needs.
pub struct Forward {
    /// `v ⊙ m`, the conditioner's input, `[rows, d]`.
    pub kept: Vec<f32>,
    /// Each layer's output (the last is `θ`, `[rows, 2d]`).
    pub activations: Vec<Vec<f32>>,
    /// `[y | log|det|]`, `[rows, d + 1]`.
    pub output: Vec<f32>,
}

/// The gradients of one coupling.
pub struct Gradients {
    /// `∂L/∂v` (when asked for).
    pub v: Option<Vec<f32>>,
    /// `(∂W, ∂b)` of each layer, first layer first.
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
}

fn mask_rows(v: Matrix, mask: &[f32]) -> Vec<f32> {
    v.data
        .chunks_exact(v.cols)
        .flat_map(|row| row.iter().zip(mask).map(|(x, m)| x * m))
        .collect()
}

fn check(v: Matrix, layers: &[Layer], affine: Affine) {
    assert!(!layers.is_empty(), "a conditioner has at least one layer");
    assert_eq!(affine.mask.len(), v.cols, "mask does not match the data");
    let mut width = v.cols;
    for layer in layers {
        assert_eq!(layer.weight.rows, width, "layer input does not match");
        assert_eq!(layer.bias.len(), layer.weight.cols, "bias does not match");
        width = layer.weight.cols;
    }
    assert_eq!(width, 2 * v.cols, "the conditioner must output [s | t]");
}

/// The coupling's forward pass.
pub fn forward(v: Matrix, layers: &[Layer], affine: Affine) -> Forward {
    check(v, layers, affine);
    let kept = mask_rows(v, affine.mask);
    let last = layers.len() - 1;
    let mut activations: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let input = activations.last().map_or(&kept[..], |a| &a[..]);
        let a = linear::forward(
            Matrix::new(input, v.rows, layer.weight.rows),
            layer.weight,
            layer.bias,
            i < last,
        );
        activations.push(a);
    }
    let theta = Matrix::new(&activations[last], v.rows, 2 * v.cols);
    let output = affine::forward(theta, v, affine);
    Forward {
        kept,
        activations,
        output,
    }
}

/// What the backward reads of the forward's results (borrowed: the caller may keep them in its
/// own tensors).
#[derive(Clone, Copy)]
pub struct Saved<'a> {
    pub kept: &'a [f32],
    pub activations: &'a [&'a [f32]],
    pub output: &'a [f32],
}

/// The coupling's backward pass given `grad = ∂L/∂[y | log|det|]` and the forward's results.
pub fn backward(
    v: Matrix,
    layers: &[Layer],
    forward: Saved,
    grad: &[f32],
    affine: Affine,
    need_v: bool,
) -> Gradients {
    check(v, layers, affine);
    let (rows, d) = (v.rows, v.cols);
    let last = layers.len() - 1;
    assert_eq!(
        forward.activations.len(),
        layers.len(),
        "one output per layer"
    );
    let theta = Matrix::new(forward.activations[last], rows, 2 * d);
    let (dtheta, mut dv) = affine::backward(
        theta,
        v,
        Matrix::new(forward.output, rows, d + 1),
        Matrix::new(grad, rows, d + 1),
        affine,
    );
    let mut upstream = dtheta;
    let mut grads = Vec::with_capacity(layers.len());
    for i in (0..layers.len()).rev() {
        let input = if i == 0 {
            forward.kept
        } else {
            forward.activations[i - 1]
        };
        let layer = layers[i];
        let g = linear::backward(
            Matrix::new(input, rows, layer.weight.rows),
            layer.weight,
            forward.activations[i],
            &upstream,
            i < last,
            Needed {
                x: i > 0 || need_v,
                weight: true,
                bias: true,
            },
        );
        grads.push((g.weight.expect("asked for"), g.bias.expect("asked for")));
        if let Some(dx) = g.x {
            upstream = dx;
        }
    }
    grads.reverse();
    let v_grad = need_v.then(|| {
        for (dv_row, dk_row) in dv.chunks_exact_mut(d).zip(upstream.chunks_exact(d)) {
            for ((a, b), m) in dv_row.iter_mut().zip(dk_row).zip(affine.mask) {
                *a += b * m;
            }
        }
        dv
    });
    Gradients {
        v: v_grad,
        layers: grads,
    }
}
