//! The autodiff step shared by the fused operations that take one input and six weights (a
//! RealNVP coupling's `v` and its conditioner's three layers, `coupling.rs`; a Glow
//! conditioner's `x` and its three convolutions, `conv_net.rs`): one backward step with seven
//! parents, which asks the operation for the gradients of the parents that are tracked and
//! registers them.

use burn::backend::Backend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;

/// An operation's six weights (or their gradients), in its parents' order after the input.
pub type Weights<T> = [T; 6];

/// The backward of a fused operation with one input and six weights, on backend `B`.
pub trait InputAndWeights<B: Backend>: std::fmt::Debug + Send + 'static {
    /// What the forward kept for the backward.
    type Saved: Clone + Send + std::fmt::Debug + 'static;

    /// `∂L/∂input` (when `need_input`) and the six weights' gradients, given `grad = ∂L/∂output`.
    fn backward(
        saved: Self::Saved,
        grad: FloatTensor<B>,
        need_input: bool,
    ) -> (Option<FloatTensor<B>>, Weights<FloatTensor<B>>);
}

/// The backward step of operation `Op`, recorded with its seven parents.
#[derive(Debug)]
pub struct InputAndWeightsStep<Op>(pub Op);

impl<B: Backend, Op: InputAndWeights<B>> Backward<B, 7> for InputAndWeightsStep<Op> {
    type State = Op::Saved;

    fn backward(self, ops: Ops<Self::State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_input, rest @ ..] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (d_input, d_weights) = Op::backward(ops.state, grad, node_input.is_some());
        if let (Some(node), Some(d)) = (node_input, d_input) {
            grads.register::<B>(node.id, d);
        }
        for (node, g) in rest.into_iter().zip(d_weights) {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}
