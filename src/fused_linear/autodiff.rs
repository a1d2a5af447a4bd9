//! The fused linear layer under Burn's autodiff: the forward runs on the inner backend and
//! registers one backward step with three parents (`x`, `W`, `b`), which computes only the
//! gradients of the parents that are tracked (data fed to the first layer is not).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

use super::kernels::Needed;
use super::{FusedLinearBackward, FusedLinearOps};

#[derive(Debug)]
struct FusedLinearStep;

impl<B: Backend + FusedLinearBackward> Backward<B, 3> for FusedLinearStep {
    /// `(x, W, output, relu)` of the forward.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, bool);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, output, relu) = ops.state;
        let needed = Needed {
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
