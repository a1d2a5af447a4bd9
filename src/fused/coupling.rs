//! A whole RealNVP affine coupling — mask, a three-layer conditioner (`d → h → h → 2d`, ReLU
//! between) and the affine transform with its log-det — as one operation on the CPU backend,
//! with one hand-written backward step (arithmetic: `flowplay_kernels::coupling`).
//!
//! Composed of [`super::linear`] and [`super::affine`] a coupling is five recorded operations
//! (the mask product, three layers, the transform) and as many backward steps, plus the sum of
//! `v`'s two gradients; each costs Burn's autodiff bookkeeping and fresh tensors whatever the
//! batch, which at a data-parallel replica's half batch is a sizeable part of a step. Here it is
//! one operation with seven parents (`v` and the six weights and biases).
//!
//! # Shapes
//! `v [batch, d]`, `mask [d]` (0/1), `W₁ [d, h]`, `b₁ [h]`, `W₂ [h, h]`, `b₂ [h]`,
//! `W₃ [h, 2d]`, `b₃ [2d]` (Burn's `Linear` layout) → `[y | log|det|]`, `[batch, d + 1]`.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::kernels::{
    Matrix,
    affine::Affine,
    coupling::{self, Layer},
};
use super::mlp::Mlp;
use super::step::{InputAndWeights, InputAndWeightsStep, Weights};
use super::{contiguous, dims2, fusable, split_coupling_output, values};

/// The coupling as a backend operation; see the module documentation for shapes (the
/// extension macro dispatches each tensor argument on its own, hence six of them).
#[backend_extension(Flex, Autodiff)]
pub trait FusedCouplingOps: Backend {
    #[allow(clippy::too_many_arguments)]
    fn fused_coupling(
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        w3: FloatTensor<Self>,
        b3: FloatTensor<Self>,
        clamp: f32,
        inverse: bool,
    ) -> FloatTensor<Self>;
}

/// The forward that keeps what the backward needs, and the backward, on a concrete backend.
pub trait FusedCouplingBackward: Backend {
    /// The forward's inputs and intermediates.
    type Saved: Clone + Send + std::fmt::Debug + 'static;

    fn fused_coupling_saving(
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        weights: Weights<FloatTensor<Self>>,
        clamp: f32,
        inverse: bool,
    ) -> (FloatTensor<Self>, Self::Saved);

    /// `∂L/∂v` (when `need_v`) and the six weights' gradients, given `grad = ∂L/∂[y | log|det|]`.
    fn fused_coupling_backward(
        saved: Self::Saved,
        grad: FloatTensor<Self>,
        need_v: bool,
    ) -> (Option<FloatTensor<Self>>, Weights<FloatTensor<Self>>);
}

/// What [`FusedCouplingBackward::fused_coupling_saving`] keeps on the CPU backend (tensors
/// share their storage, so cloning is cheap).
#[derive(Clone, Debug)]
pub struct FlexSaved {
    v: FlexTensor,
    mask: FlexTensor,
    weights: Weights<FlexTensor>,
    kept: FlexTensor,
    activations: [FlexTensor; 3],
    output: FlexTensor,
    clamp: f32,
    inverse: bool,
}

fn tensor(data: Vec<f32>, shape: [usize; 2]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// The layers' views of `weights` (contiguous, checked as matrices of their shapes).
fn layers(weights: &Weights<FlexTensor>) -> [Layer<'_>; 3] {
    std::array::from_fn(|i| {
        let (w, b) = (&weights[2 * i], &weights[2 * i + 1]);
        let [rows, cols] = dims2(w);
        Layer {
            weight: Matrix::new(values(w), rows, cols),
            bias: values(b),
        }
    })
}

impl FusedCouplingOps for Flex {
    fn fused_coupling(
        v: FlexTensor,
        mask: FlexTensor,
        w1: FlexTensor,
        b1: FlexTensor,
        w2: FlexTensor,
        b2: FlexTensor,
        w3: FlexTensor,
        b3: FlexTensor,
        clamp: f32,
        inverse: bool,
    ) -> FlexTensor {
        let weights = [w1, b1, w2, b2, w3, b3];
        <Flex as FusedCouplingBackward>::fused_coupling_saving(v, mask, weights, clamp, inverse).0
    }
}

impl FusedCouplingBackward for Flex {
    type Saved = FlexSaved;

    fn fused_coupling_saving(
        v: FlexTensor,
        mask: FlexTensor,
        weights: Weights<FlexTensor>,
        clamp: f32,
        inverse: bool,
    ) -> (FlexTensor, FlexSaved) {
        let [rows, d] = dims2(&v);
        let (v, mask) = (contiguous(v), contiguous(mask));
        let weights = weights.map(contiguous);
        let f = coupling::forward(
            Matrix::new(values(&v), rows, d),
            &layers(&weights),
            Affine {
                mask: values(&mask),
                clamp,
                inverse,
            },
        );
        // Each layer's output is as wide as its weight matrix has columns.
        let widths: [usize; 3] = std::array::from_fn(|i| dims2(&weights[2 * i])[1]);
        let mut acts = f.activations.into_iter();
        let activations = widths.map(|w| tensor(acts.next().expect("three layers"), [rows, w]));
        let output = tensor(f.output, [rows, d + 1]);
        let saved = FlexSaved {
            v,
            mask,
            weights,
            kept: tensor(f.kept, [rows, d]),
            activations,
            output: output.clone(),
            clamp,
            inverse,
        };
        (output, saved)
    }

    fn fused_coupling_backward(
        saved: FlexSaved,
        grad: FlexTensor,
        need_v: bool,
    ) -> (Option<FlexTensor>, Weights<FlexTensor>) {
        let [rows, d] = dims2(&saved.v);
        let grad = contiguous(grad);
        let activations: Vec<&[f32]> = saved.activations.iter().map(values).collect();
        let g = coupling::backward(
            Matrix::new(values(&saved.v), rows, d),
            &layers(&saved.weights),
            coupling::Saved {
                kept: values(&saved.kept),
                activations: &activations,
                output: values(&saved.output),
            },
            values(&grad),
            Affine {
                mask: values(&saved.mask),
                clamp: saved.clamp,
                inverse: saved.inverse,
            },
            need_v,
        );
        let dv = g.v.map(|dv| tensor(dv, [rows, d]));
        let mut grads = Vec::with_capacity(6);
        for ((dw, db), w) in g.layers.into_iter().zip(saved.weights.iter().step_by(2)) {
            let [i, o] = dims2(w);
            grads.push(tensor(dw, [i, o]));
            grads.push(FlexTensor::from_data(TensorData::new(db, [o])));
        }
        let grads: Weights<FlexTensor> = grads.try_into().expect("three layers");
        (dv, grads)
    }
}

// Under autodiff: one backward step with seven parents (v and the six weights); the mask is a
// constant.

#[derive(Debug)]
struct FusedCouplingStep;

impl<B: Backend + FusedCouplingBackward> InputAndWeights<B> for FusedCouplingStep {
    type Saved = B::Saved;

    fn backward(
        saved: B::Saved,
        grad: FloatTensor<B>,
        need_input: bool,
    ) -> (Option<FloatTensor<B>>, Weights<FloatTensor<B>>) {
        B::fused_coupling_backward(saved, grad, need_input)
    }
}

impl<B, C> FusedCouplingOps for Autodiff<B, C>
where
    B: Backend + FusedCouplingOps + FusedCouplingBackward,
    C: CheckpointStrategy,
{
    fn fused_coupling(
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        w3: FloatTensor<Self>,
        b3: FloatTensor<Self>,
        clamp: f32,
        inverse: bool,
    ) -> FloatTensor<Self> {
        let mask = mask.into_primitive();
        let parents = [
            v.node(),
            w1.node(),
            b1.node(),
            w2.node(),
            b2.node(),
            w3.node(),
            b3.node(),
        ];
        let inner = [w1, b1, w2, b2, w3, b3].map(|w| w.into_primitive());
        match InputAndWeightsStep(FusedCouplingStep)
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, saved) =
                    B::fused_coupling_saving(v.into_primitive(), mask, inner, clamp, inverse);
                prep.finish(saved, output)
            }
            OpsKind::UnTracked(prep) => {
                let [w1, b1, w2, b2, w3, b3] = inner;
                prep.finish(B::fused_coupling(
                    v.into_primitive(),
                    mask,
                    w1,
                    b1,
                    w2,
                    b2,
                    w3,
                    b3,
                    clamp,
                    inverse,
                ))
            }
        }
    }
}

/// The fused coupling when the tensors are on the CPU backend and the conditioner is three
/// layers with biases (`None` otherwise: the caller composes it from smaller operations).
/// Returns `(y [batch, d], log|det| [batch])`.
pub fn couple(
    net: &Mlp,
    v: &Tensor<2>,
    mask: &Tensor<2>,
    clamp: f32,
    inverse: bool,
) -> Option<(Tensor<2>, Tensor<1>)> {
    if net.layers.len() != 3 || !(fusable(v) && fusable(mask)) {
        return None;
    }
    let mut weights = Vec::with_capacity(6);
    for layer in &net.layers {
        let bias = layer.bias.as_ref()?;
        weights.push(layer.weight.val().into_dispatch());
        weights.push(bias.val().into_dispatch());
    }
    let [w1, b1, w2, b2, w3, b3]: Weights<_> = weights.try_into().ok()?;
    let d = v.dims()[1];
    let out = Tensor::<2>::from_dispatch(<Dispatch as FusedCouplingOps>::fused_coupling(
        v.clone().into_dispatch(),
        mask.clone().reshape([d]).into_dispatch(),
        w1,
        b1,
        w2,
        b2,
        w3,
        b3,
        clamp,
        inverse,
    ));
    Some(split_coupling_output(out, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::kernels::testing::assert_close;
    use crate::testing::{gaussian_batch, host, perturb, seeded_autodiff_device};
    use burn::module::Module;

    /// The coupling composed of the separate fused operations (the path it replaces, itself
    /// tested against Burn's own operations in `fused::linear` and `fused::affine`).
    fn composed(
        net: &Mlp,
        v: &Tensor<2>,
        mask: &Tensor<2>,
        c: f32,
        inverse: bool,
    ) -> (Tensor<2>, Tensor<1>) {
        let theta = net.forward(v.clone() * mask.clone());
        super::super::affine::couple(&theta, v, mask, c, inverse).expect("the CPU backend fuses")
    }

    /// Under autodiff, both directions, two masks: the outputs and the gradients of a weighted
    /// loss with respect to `v` and every weight and bias agree with the composed operations.
    #[test]
    fn matches_the_composed_operations_and_their_gradients() {
        let (_guard, device) = seeded_autodiff_device(12);
        let (batch, d, h) = (37, 3, 24);
        let net = perturb(Mlp::new(d, h, 2, 2 * d, &device), 0.4);
        for (m, bits) in [[1.0f32, 0.0, 0.0], [0.0, 1.0, 1.0]].iter().enumerate() {
            let mask = Tensor::<2>::from_data(TensorData::new(bits.to_vec(), [1, d]), &device);
            for inverse in [false, true] {
                let v = gaussian_batch(batch, d, 1.0, 2 + m as u64, &device).require_grad();
                let wy = gaussian_batch(batch, d, 1.0, 5, &device);
                let wl = gaussian_batch(batch, 1, 1.0, 6, &device).reshape([batch]);
                let run = |fused: bool| {
                    let (y, ld) = if fused {
                        couple(&net, &v, &mask, 2.0, inverse).expect("the CPU backend fuses")
                    } else {
                        composed(&net, &v, &mask, 2.0, inverse)
                    };
                    let grads = ((y.clone() * wy.clone()).sum() + (ld.clone() * wl.clone()).sum())
                        .backward();
                    let mut out = vec![
                        host(y),
                        host(ld),
                        host(v.grad(&grads).expect("v has a gradient")),
                    ];
                    for layer in &net.layers {
                        out.push(host(layer.weight.val().grad(&grads).expect("dW")));
                        let bias = layer.bias.as_ref().expect("a bias").val();
                        out.push(host(bias.grad(&grads).expect("db")));
                    }
                    out
                };
                let (fused, reference) = (run(true), run(false));
                let names = [
                    "y", "log|det|", "dv", "dW1", "db1", "dW2", "db2", "dW3", "db3",
                ];
                for (what, (f, r)) in names.iter().zip(fused.iter().zip(&reference)) {
                    assert_close(f, r, &format!("{what} (mask {bits:?}, inverse {inverse})"));
                }
            }
        }
    }

    /// Data that does not require a gradient (a flow's input) gets none, the weights still do;
    /// a conditioner of another depth is not fused (the caller composes it).
    #[test]
    fn untracked_data_and_other_depths() {
        let (_guard, device) = seeded_autodiff_device(13);
        let net = perturb(Mlp::new(2, 8, 2, 4, &device), 0.3);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        let v = gaussian_batch(5, 2, 1.0, 1, &device);
        let (y, ld) = couple(&net, &v, &mask, 3.0, false).expect("fused");
        let grads = (y.sum() + ld.sum()).backward();
        assert!(v.grad(&grads).is_none());
        assert!(net.layers[0].weight.val().grad(&grads).is_some());
        let deeper = Mlp::new(2, 8, 3, 4, &device);
        assert!(couple(&deeper, &v, &mask, 3.0, false).is_none());
    }

    /// An empty batch gives empty outputs (no division by the row count).
    #[test]
    fn an_empty_batch_is_empty() {
        let (_guard, device) = seeded_autodiff_device(14);
        let net = perturb(Mlp::new(2, 8, 2, 4, &device), 0.3);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        let v = Tensor::<2>::zeros([0, 2], &device);
        let (y, ld) = couple(&net, &v, &mask, 3.0, false).expect("fused");
        assert_eq!((y.dims(), ld.dims()), ([0, 2], [0]));
    }

    /// Without autodiff (sampling, evaluation) it runs fused too, and agrees.
    #[test]
    fn runs_without_autodiff() {
        let (_guard, ad) = seeded_autodiff_device(4);
        let net = perturb(Mlp::new(2, 16, 2, 4, &ad), 0.3).valid();
        let device = crate::device::cpu();
        let mask = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 2]), &device);
        let v = gaussian_batch(11, 2, 1.0, 2, &device);
        for inverse in [false, true] {
            let (y, ld) = couple(&net, &v, &mask, 3.0, inverse).expect("fused");
            let (ry, rld) = composed(&net, &v, &mask, 3.0, inverse);
            assert_close(&host(y), &host(ry), "y");
            assert_close(&host(ld), &host(rld), "log|det|");
        }
    }
}
