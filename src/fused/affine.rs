//! RealNVP's masked affine transform (after the conditioner) as one operation on the CPU
//! backend: `y = m ⊙ v + (1 − m) ⊙ (v ⊙ e^s + t)`, `log|det| = Σ (1 − m) ⊙ s` with
//! `s = c·tanh(a/c)` and `θ = [a | t]`, or its inverse (formulas, backward and reference:
//! `flowplay_kernels::affine`).
//!
//! Written with Burn's tensor operations ([`crate::flows::coupling`]'s generic path) this is
//! about fifteen element-wise operations per coupling and direction (two narrows, the clamp's
//! three, `exp`, the masks' arithmetic, a row sum), each allocating a buffer and recording an
//! autodiff step; here it is one pass per row and one backward step.
//!
//! # Shapes
//! `theta [batch, 2d]`, `v [batch, d]`, `mask [1, d]` (0/1) → `(y [batch, d], log|det| [batch])`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::kernels::{Matrix, affine::Affine};
use super::{contiguous, dims2, fusable, split_coupling_output, values};

/// The transform as a backend operation; its output is `[y | log|det|]`, `[batch, d + 1]`.
#[backend_extension(Flex, Autodiff)]
pub trait FusedAffineOps: Backend {
    fn fused_affine(
        theta: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        clamp: f32,
        inverse: bool,
    ) -> FloatTensor<Self>;
}

/// The backward pass on a concrete backend: `(∂θ, ∂v)` given `∂L/∂[y | log|det|]`.
pub trait FusedAffineBackward: Backend {
    fn fused_affine_backward(
        theta: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        clamp: f32,
        inverse: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl FusedAffineOps for Flex {
    fn fused_affine(
        theta: FlexTensor,
        v: FlexTensor,
        mask: FlexTensor,
        clamp: f32,
        inverse: bool,
    ) -> FlexTensor {
        let [rows, d] = dims2(&v);
        let (theta, v, mask) = (contiguous(theta), contiguous(v), contiguous(mask));
        let out = super::kernels::affine::forward(
            Matrix::new(values(&theta), rows, 2 * d),
            Matrix::new(values(&v), rows, d),
            Affine {
                mask: values(&mask),
                clamp,
                inverse,
            },
        );
        FlexTensor::from_data(TensorData::new(out, [rows, d + 1]))
    }
}

impl FusedAffineBackward for Flex {
    fn fused_affine_backward(
        theta: FlexTensor,
        v: FlexTensor,
        mask: FlexTensor,
        output: FlexTensor,
        grad: FlexTensor,
        clamp: f32,
        inverse: bool,
    ) -> (FlexTensor, FlexTensor) {
        let [rows, d] = dims2(&v);
        let (theta, v, mask) = (contiguous(theta), contiguous(v), contiguous(mask));
        let (output, grad) = (contiguous(output), contiguous(grad));
        let (dtheta, dv) = super::kernels::affine::backward(
            Matrix::new(values(&theta), rows, 2 * d),
            Matrix::new(values(&v), rows, d),
            Matrix::new(values(&output), rows, d + 1),
            Matrix::new(values(&grad), rows, d + 1),
            Affine {
                mask: values(&mask),
                clamp,
                inverse,
            },
        );
        (
            FlexTensor::from_data(TensorData::new(dtheta, [rows, 2 * d])),
            FlexTensor::from_data(TensorData::new(dv, [rows, d])),
        )
    }
}

// Under autodiff: one backward step with two parents (θ and v); the mask is a constant.

#[derive(Debug)]
struct FusedAffineStep;

impl<B: Backend + FusedAffineBackward> Backward<B, 2> for FusedAffineStep {
    /// `(θ, v, mask, output, clamp, inverse)` of the forward.
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        f32,
        bool,
    );

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_theta, node_v] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (theta, v, mask, output, clamp, inverse) = ops.state;
        let (dtheta, dv) = B::fused_affine_backward(theta, v, mask, output, grad, clamp, inverse);
        if let Some(node) = node_theta {
            grads.register::<B>(node.id, dtheta);
        }
        if let Some(node) = node_v {
            grads.register::<B>(node.id, dv);
        }
    }
}

impl<B, C> FusedAffineOps for Autodiff<B, C>
where
    B: Backend + FusedAffineOps + FusedAffineBackward,
    C: CheckpointStrategy,
{
    fn fused_affine(
        theta: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        clamp: f32,
        inverse: bool,
    ) -> FloatTensor<Self> {
        let mask = mask.into_primitive();
        match FusedAffineStep
            .prepare::<C>([theta.node(), v.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (theta, v) = (theta.into_primitive(), v.into_primitive());
                let output =
                    B::fused_affine(theta.clone(), v.clone(), mask.clone(), clamp, inverse);
                let state = (theta, v, mask, output.clone(), clamp, inverse);
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_affine(
                theta.into_primitive(),
                v.into_primitive(),
                mask,
                clamp,
                inverse,
            )),
        }
    }
}

/// The fused transform when the tensors are on the CPU backend (`None` elsewhere: the caller
/// runs its generic path). Returns `(y [batch, d], log|det| [batch])`.
pub fn couple(
    theta: &Tensor<2>,
    v: &Tensor<2>,
    mask: &Tensor<2>,
    clamp: f32,
    inverse: bool,
) -> Option<(Tensor<2>, Tensor<1>)> {
    if !(fusable(theta) && fusable(v) && fusable(mask)) {
        return None;
    }
    let d = v.dims()[1];
    let out = Tensor::<2>::from_dispatch(<Dispatch as FusedAffineOps>::fused_affine(
        theta.clone().into_dispatch(),
        v.clone().into_dispatch(),
        mask.clone().reshape([d]).into_dispatch(),
        clamp,
        inverse,
    ));
    Some(split_coupling_output(out, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::kernels::testing::assert_close;
    use crate::testing::{gaussian_batch, host, seeded_autodiff_device};

    /// The same transform written with Burn's tensor operations (the coupling's generic path:
    /// soft-clamped log-scale `c·tanh(θ_s/c)`, log-det summed over the free columns).
    fn reference(
        theta: Tensor<2>,
        v: Tensor<2>,
        mask: Tensor<2>,
        c: f32,
        inverse: bool,
    ) -> (Tensor<2>, Tensor<1>) {
        let [n, d] = v.dims();
        let s = theta
            .clone()
            .narrow(1, 0, d)
            .div_scalar(c)
            .tanh()
            .mul_scalar(c);
        let t = theta.narrow(1, d, d);
        let free = mask.clone().neg().add_scalar(1.0);
        let (tau, ld) = if inverse {
            ((v.clone() - t) * s.clone().neg().exp(), s.neg())
        } else {
            (v.clone() * s.clone().exp() + t, s)
        };
        (
            v * mask + tau * free.clone(),
            (ld * free).sum_dim(1).reshape([n]),
        )
    }

    /// Under autodiff, both directions: the outputs and the gradients of a weighted loss with
    /// respect to θ and v agree with the tensor-operation version.
    #[test]
    fn matches_the_tensor_operations_and_their_gradients() {
        let (_guard, device) = seeded_autodiff_device(11);
        let (batch, d) = (17, 3);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0], [1, d]), &device);
        for inverse in [false, true] {
            let theta = gaussian_batch(batch, 2 * d, 1.5, 1, &device).require_grad();
            let v = gaussian_batch(batch, d, 1.0, 2, &device).require_grad();
            let wy = gaussian_batch(batch, d, 1.0, 3, &device);
            let wl = gaussian_batch(batch, 1, 1.0, 4, &device).reshape([batch]);
            let run = |fused: bool| {
                let (y, ld) = if fused {
                    couple(&theta, &v, &mask, 2.0, inverse).expect("the CPU backend fuses")
                } else {
                    reference(theta.clone(), v.clone(), mask.clone(), 2.0, inverse)
                };
                let loss = (y.clone() * wy.clone()).sum() + (ld.clone() * wl.clone()).sum();
                let grads = loss.backward();
                [
                    host(y),
                    host(ld),
                    host(theta.grad(&grads).expect("θ has a gradient")),
                    host(v.grad(&grads).expect("v has a gradient")),
                ]
            };
            let (fused, reference) = (run(true), run(false));
            for (what, (f, r)) in ["y", "log|det|", "dθ", "dv"]
                .iter()
                .zip(fused.iter().zip(&reference))
            {
                assert_close(f, r, &format!("{what} (inverse {inverse})"));
            }
        }
    }
}
