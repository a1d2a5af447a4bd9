//! Glow's coupling conditioner (`3×3 conv → ReLU → 1×1 conv → ReLU → 3×3 conv`, Kingma &
//! Dhariwal 2018, arXiv:1807.03039 §3.3) as one operation on the CPU backend, with one
//! hand-written backward step (arithmetic: `flowplay_kernels::conv_net`, channels-last on
//! `gemm`, split over the threads).
//!
//! Composed of Burn's operations the conditioner is three `conv2d`s, two bias adds and two
//! ReLUs, each a pass over `[batch, hidden, h, w]` with a fresh buffer, and Burn's CPU backend
//! runs each convolution and each of its two backward products per image in channel-major
//! layout. Here every convolution is one product over all pixels of the batch, the wide hidden
//! activations are never transposed, and a step of `glow_mnist_gpu` runs several times faster
//! (`flowplay bench image-step`, `docs/performance.md`).
//!
//! # Shapes
//! `x [n, in, h, w]`, `W₁ [hidden, in, k₁, k₁]`, `b₁ [hidden]`, `W₂ [hidden, hidden, 1, 1]`,
//! `b₂ [hidden]`, `W₃ [out, hidden, k₃, k₃]`, `b₃ [out]` → `[n, out, h, w]`.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::kernels::conv_net::{self, ConvNetShape, ConvNetWeights};
use super::step::{InputAndWeights, InputAndWeightsStep, Weights};
use super::{contiguous, fusable, values};

/// The conditioner as a backend operation; see the module documentation for shapes.
#[backend_extension(Flex, Autodiff)]
pub trait FusedConvNetOps: Backend {
    fn fused_conv_net(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        w3: FloatTensor<Self>,
        b3: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The forward that keeps what the backward needs, and the backward, on a concrete backend.
pub trait FusedConvNetBackward: Backend {
    /// The forward's inputs and hidden activations.
    type Saved: Clone + Send + std::fmt::Debug + 'static;

    fn fused_conv_net_saving(
        x: FloatTensor<Self>,
        weights: Weights<FloatTensor<Self>>,
    ) -> (FloatTensor<Self>, Self::Saved);

    /// `∂L/∂x` (when `need_x`) and the six weights' gradients, given `grad = ∂L/∂y`.
    fn fused_conv_net_backward(
        saved: Self::Saved,
        grad: FloatTensor<Self>,
        need_x: bool,
    ) -> (Option<FloatTensor<Self>>, Weights<FloatTensor<Self>>);
}

/// What the CPU backend keeps for the backward (tensors share their storage: cloning is cheap;
/// the hidden activations are behind an `Arc`).
#[derive(Clone, Debug)]
pub struct FlexSaved {
    x: FlexTensor,
    weights: Weights<FlexTensor>,
    hidden: std::sync::Arc<conv_net::Saved>,
    shape: ConvNetShape,
}

fn dims<const D: usize>(t: &FlexTensor, what: &str) -> [usize; D] {
    let shape = t.layout().shape();
    assert_eq!(
        shape.num_dims(),
        D,
        "fused conv net: {what} has the wrong rank"
    );
    std::array::from_fn(|i| shape[i])
}

/// The shape of the conditioner that reads `x` through `weights`.
fn net_shape(x: &FlexTensor, weights: &Weights<FlexTensor>) -> ConvNetShape {
    let [n, input, height, width] = dims::<4>(x, "x");
    let [hidden, w1_in, k1, k1w] = dims::<4>(&weights[0], "W1");
    let [output, w3_in, k3, k3w] = dims::<4>(&weights[4], "W3");
    assert!(
        w1_in == input && w3_in == hidden && k1 == k1w && k3 == k3w,
        "fused conv net: weights do not match the input"
    );
    ConvNetShape {
        n,
        height,
        width,
        input,
        hidden,
        output,
        first_kernel: k1,
        last_kernel: k3,
    }
}

fn net_weights(w: &Weights<FlexTensor>) -> ConvNetWeights<'_> {
    ConvNetWeights {
        w1: values(&w[0]),
        b1: values(&w[1]),
        w2: values(&w[2]),
        b2: values(&w[3]),
        w3: values(&w[4]),
        b3: values(&w[5]),
    }
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// The forward on the CPU backend; the hidden activations when `keep`.
fn run_forward(
    x: FlexTensor,
    weights: Weights<FlexTensor>,
    keep: bool,
) -> (FlexTensor, Option<FlexSaved>) {
    let x = contiguous(x);
    let weights = weights.map(contiguous);
    let s = net_shape(&x, &weights);
    let (y, hidden) = conv_net::forward(&s, values(&x), &net_weights(&weights), keep);
    let y = tensor(y, [s.n, s.output, s.height, s.width]);
    let saved = hidden.map(|hidden| FlexSaved {
        x,
        weights,
        hidden: std::sync::Arc::new(hidden),
        shape: s,
    });
    (y, saved)
}

impl FusedConvNetOps for Flex {
    fn fused_conv_net(
        x: FlexTensor,
        w1: FlexTensor,
        b1: FlexTensor,
        w2: FlexTensor,
        b2: FlexTensor,
        w3: FlexTensor,
        b3: FlexTensor,
    ) -> FlexTensor {
        run_forward(x, [w1, b1, w2, b2, w3, b3], false).0
    }
}

impl FusedConvNetBackward for Flex {
    type Saved = FlexSaved;

    fn fused_conv_net_saving(
        x: FlexTensor,
        weights: Weights<FlexTensor>,
    ) -> (FlexTensor, FlexSaved) {
        let (y, saved) = run_forward(x, weights, true);
        (y, saved.expect("kept"))
    }

    fn fused_conv_net_backward(
        saved: FlexSaved,
        grad: FlexTensor,
        need_x: bool,
    ) -> (Option<FlexTensor>, Weights<FlexTensor>) {
        let s = saved.shape;
        let grad = contiguous(grad);
        let g = conv_net::backward(
            &s,
            values(&saved.x),
            &net_weights(&saved.weights),
            &saved.hidden,
            values(&grad),
            need_x,
        );
        let (k1, k3) = (s.first_kernel, s.last_kernel);
        let dx = g.x.map(|dx| tensor(dx, [s.n, s.input, s.height, s.width]));
        let grads = [
            tensor(g.w1, [s.hidden, s.input, k1, k1]),
            tensor(g.b1, [s.hidden]),
            tensor(g.w2, [s.hidden, s.hidden, 1, 1]),
            tensor(g.b2, [s.hidden]),
            tensor(g.w3, [s.output, s.hidden, k3, k3]),
            tensor(g.b3, [s.output]),
        ];
        (dx, grads)
    }
}

// Under autodiff: one backward step with seven parents (x and the six weights).

#[derive(Debug)]
struct FusedConvNetStep;

impl<B: Backend + FusedConvNetBackward> InputAndWeights<B> for FusedConvNetStep {
    type Saved = B::Saved;

    fn backward(
        saved: B::Saved,
        grad: FloatTensor<B>,
        need_input: bool,
    ) -> (Option<FloatTensor<B>>, Weights<FloatTensor<B>>) {
        B::fused_conv_net_backward(saved, grad, need_input)
    }
}

impl<B, C> FusedConvNetOps for Autodiff<B, C>
where
    B: Backend + FusedConvNetOps + FusedConvNetBackward,
    C: CheckpointStrategy,
{
    fn fused_conv_net(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        w3: FloatTensor<Self>,
        b3: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let parents = [
            x.node(),
            w1.node(),
            b1.node(),
            w2.node(),
            b2.node(),
            w3.node(),
            b3.node(),
        ];
        let inner = [w1, b1, w2, b2, w3, b3].map(|w| w.into_primitive());
        match InputAndWeightsStep(FusedConvNetStep)
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, saved) = B::fused_conv_net_saving(x.into_primitive(), inner);
                prep.finish(saved, output)
            }
            OpsKind::UnTracked(prep) => {
                let [w1, b1, w2, b2, w3, b3] = inner;
                prep.finish(B::fused_conv_net(
                    x.into_primitive(),
                    w1,
                    b1,
                    w2,
                    b2,
                    w3,
                    b3,
                ))
            }
        }
    }
}

/// The conditioner fused when `x` is an `f32` tensor on the CPU backend (`None` otherwise:
/// the caller runs Burn's convolutions). `convs` are the three convolutions' `(weight, bias)`,
/// first to last (`flows::image::ConvNet` calls it; its tests compare the two paths).
pub fn conv_net(x: &Tensor<4>, convs: [(Tensor<4>, Tensor<1>); 3]) -> Option<Tensor<4>> {
    if !fusable(x) {
        return None;
    }
    let [(w1, b1), (w2, b2), (w3, b3)] = convs;
    let y = <Dispatch as FusedConvNetOps>::fused_conv_net(
        x.clone().into_dispatch(),
        w1.into_dispatch(),
        b1.into_dispatch(),
        w2.into_dispatch(),
        b2.into_dispatch(),
        w3.into_dispatch(),
        b3.into_dispatch(),
    );
    Some(Tensor::from_dispatch(y))
}
