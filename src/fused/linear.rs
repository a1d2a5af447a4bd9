//! A fused linear layer for Burn's CPU backend: `y = act(x·W + b)` (act = ReLU or identity) as
//! one operation with a hand-written backward pass.
//!
//! Burn's own `Linear` followed by `relu` is, on the CPU backend, a matmul into a fresh buffer,
//! a broadcast bias add, a ReLU, and in the backward a mask, a masked fill, a reduction for the
//! bias and two matmuls — each a separate pass over a `[batch, width]` buffer with its own
//! allocation. Here the bias and the activation ride on one pass over the product, the mask and
//! the bias gradient on one pass over the incoming gradient, and the narrow products of a
//! conditioner's first and last layers (2→128, 128→4) are plain loops instead of padded `gemm`
//! tiles (`flowplay_kernels::linear`). `docs/performance.md` has the profile that motivated it and the figures.
//!
//! [`linear`] uses it where the tensors live on the CPU
//! backend in `f32` and falls back to Burn's `Linear` + `relu` elsewhere (WebGPU, CUDA), so
//! callers need not know which backend runs.
//!
//! # Shapes
//! `x [batch, in]`, `weight [in, out]` (Burn's `Linear` layout), `bias [out]` → `[batch, out]`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};

use super::kernels::{self, Matrix};
use super::{contiguous, dims2, fusable, values};

/// The fused layer as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait FusedLinearOps: Backend {
    /// `act(x·W + b)`; see the module documentation for shapes.
    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// The backward pass on a concrete backend (used by the autodiff implementation).
pub trait FusedLinearBackward: Backend {
    /// `(∂L/∂x, ∂L/∂W, ∂L/∂b)` of the layer that produced `output` from `x` and `weight`,
    /// given `grad = ∂L/∂output`; each `None` unless asked for in `needed`.
    fn fused_linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        relu: bool,
        needed: kernels::linear::Needed,
    ) -> [Option<FloatTensor<Self>>; 3];
}

impl FusedLinearOps for Flex {
    fn fused_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        let [rows, k] = dims2(&x);
        let [_, n] = dims2(&weight);
        let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
        let out = kernels::linear::forward(
            Matrix::new(values(&x), rows, k),
            Matrix::new(values(&weight), k, n),
            values(&bias),
            relu,
        );
        FlexTensor::from_data(TensorData::new(out, [rows, n]))
    }
}

impl FusedLinearBackward for Flex {
    fn fused_linear_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output: FlexTensor,
        grad: FlexTensor,
        relu: bool,
        needed: kernels::linear::Needed,
    ) -> [Option<FlexTensor>; 3] {
        let [rows, k] = dims2(&x);
        let [_, n] = dims2(&weight);
        let (x, weight, output) = (contiguous(x), contiguous(weight), contiguous(output));
        let grad = contiguous(grad);
        let grads = kernels::linear::backward(
            Matrix::new(values(&x), rows, k),
            Matrix::new(values(&weight), k, n),
            values(&output),
            values(&grad),
            relu,
            needed,
        );
        let tensor = |v: Option<Vec<f32>>, shape: &[usize]| {
            v.map(|v| FlexTensor::from_data(TensorData::new(v, shape.to_vec())))
        };
        [
            tensor(grads.x, &[rows, k]),
            tensor(grads.weight, &[k, n]),
            tensor(grads.bias, &[n]),
        ]
    }
}

/// `act(x·W + b)` through `layer`'s weight and bias: fused on the CPU backend (f32, with a
/// bias), Burn's `Linear::forward` and `relu` otherwise.
pub fn linear(layer: &Linear, x: Tensor<2>, relu: bool) -> Tensor<2> {
    let fused = layer.bias.is_some() && fusable(&x);
    match (&layer.bias, fused) {
        (Some(bias), true) => {
            let y = <Dispatch as FusedLinearOps>::fused_linear(
                x.into_dispatch(),
                layer.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
                relu,
            );
            Tensor::from_dispatch(y)
        }
        _ => unfused(layer, x, relu),
    }
}

/// The same layer in Burn's own operations (`Linear::forward`, then `relu`): the fallback off
/// the CPU backend, and the reference the fused layer is tested against.
pub fn unfused(layer: &Linear, x: Tensor<2>, relu: bool) -> Tensor<2> {
    let y = layer.forward(x);
    if relu {
        burn::tensor::activation::relu(y)
    } else {
        y
    }
}

// Under Burn's autodiff the forward runs on the inner backend and registers one backward step
// with three parents (`x`, `W`, `b`), which computes only the gradients of the parents that are
// tracked (the data fed to the first layer is not).

#[derive(Debug)]
struct FusedLinearStep;

impl<B: Backend + FusedLinearBackward> Backward<B, 3> for FusedLinearStep {
    /// `(x, W, output, relu)` of the forward.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, bool);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, output, relu) = ops.state;
        let needed = kernels::linear::Needed {
            x: node_x.is_some(),
            weight: node_w.is_some(),
            bias: node_b.is_some(),
        };
        let [dx, dw, db] = B::fused_linear_backward(x, weight, output, grad, relu, needed);
        for (node, g) in [(node_x, dx), (node_w, dw), (node_b, db)] {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B, C> FusedLinearOps for Autodiff<B, C>
where
    B: Backend + FusedLinearOps + FusedLinearBackward,
    C: CheckpointStrategy,
{
    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        match FusedLinearStep
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let output =
                    B::fused_linear(x.clone(), weight.clone(), bias.into_primitive(), relu);
                prep.finish((x, weight, output.clone(), relu), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_linear(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                relu,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::kernels::testing::assert_close;
    use crate::testing::{gaussian_batch, host, perturb, seeded_autodiff_device};
    use burn::nn::LinearConfig;

    /// The fused layer under autodiff against Burn's `Linear` + `relu`: the output and the
    /// gradients of a weighted sum with respect to the input, the weight and the bias, for a
    /// narrow input, a narrow output and a wide layer, with and without ReLU.
    #[test]
    fn matches_burn_linear_and_its_gradients() {
        let (_guard, device) = seeded_autodiff_device(7);
        assert!(
            super::super::fused_on(&device),
            "the test device is the CPU backend"
        );
        for (k, n) in [(2, 48), (48, 4), (40, 24)] {
            for relu in [false, true] {
                let layer = perturb(LinearConfig::new(k, n).init(&device), 0.3);
                let x = gaussian_batch(33, k, 1.0, 3, &device).require_grad();
                let weights = gaussian_batch(33, n, 1.0, 4, &device);
                let run = |fused: bool| {
                    let y = if fused {
                        linear(&layer, x.clone(), relu)
                    } else {
                        unfused(&layer, x.clone(), relu)
                    };
                    let grads = (y.clone() * weights.clone()).sum().backward();
                    let bias = layer.bias.as_ref().expect("a bias").val();
                    [
                        host(y),
                        host(x.grad(&grads).expect("x has a gradient")),
                        host(layer.weight.val().grad(&grads).expect("W has a gradient")),
                        host(bias.grad(&grads).expect("b has a gradient")),
                    ]
                };
                let (fused, reference) = (run(true), run(false));
                for (what, (f, r)) in ["y", "dx", "dW", "db"]
                    .iter()
                    .zip(fused.iter().zip(&reference))
                {
                    assert_close(f, r, &format!("{what} (k {k}, n {n}, relu {relu})"));
                }
            }
        }
    }

    /// Data that does not require a gradient (the first layer's input) is not given one, and the
    /// parameters still are.
    #[test]
    fn untracked_input_gets_no_gradient() {
        let (_guard, device) = seeded_autodiff_device(8);
        let layer = LinearConfig::new(3, 16).init(&device);
        let x = gaussian_batch(5, 3, 1.0, 1, &device);
        let grads = linear(&layer, x.clone(), true).sum().backward();
        assert!(x.grad(&grads).is_none());
        assert!(layer.weight.val().grad(&grads).is_some());
    }

    /// Without autodiff (sampling, evaluation) the layer runs fused too, and agrees.
    #[test]
    fn runs_without_autodiff() {
        let device = crate::device::cpu();
        assert!(super::super::fused_on(&device));
        let layer = LinearConfig::new(6, 20).init(&device);
        let x = gaussian_batch(9, 6, 1.0, 2, &device);
        let want = host(unfused(&layer, x.clone(), true));
        assert_close(&host(linear(&layer, x, true)), &want, "y");
    }
}
