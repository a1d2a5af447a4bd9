//! The small fully-connected conditioner network used inside coupling layers, its layers run
//! as fused operations on the CPU backend ([`super::linear`]):
//! `in → hidden → … → hidden → out` with ReLU between layers; the last layer starts at zero so
//! a freshly built coupling is the identity (RealNVP/Glow practice, stabilises early training).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// A multilayer perceptron; `forward: [batch, in] → [batch, out]`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// `hidden_layers` hidden layers of width `hidden`.
    pub fn new(
        input: usize,
        hidden: usize,
        hidden_layers: usize,
        output: usize,
        device: &Device,
    ) -> Self {
        let mut widths = vec![input];
        widths.extend(std::iter::repeat_n(hidden, hidden_layers.max(1)));
        widths.push(output);
        let n = widths.len() - 1;
        let layers = (0..n)
            .map(|i| {
                let config = LinearConfig::new(widths[i], widths[i + 1]);
                let config = if i + 1 == n {
                    config.with_initializer(Initializer::Zeros)
                } else {
                    config
                };
                config.init(device)
            })
            .collect();
        Self { layers }
    }

    /// On the CPU backend each layer is one fused operation (matmul, bias and ReLU, and its
    /// backward; [`crate::fused::linear`]), elsewhere Burn's `Linear` and `relu`.
    ///
    /// # Shapes
    /// `x [batch, in]` → `[batch, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        layer_chain(&self.layers, x, super::linear::linear)
    }
}

/// `layers[k](h)` in turn, each applied as `apply(layer, h, hidden)` where `hidden` says
/// whether it is followed by a ReLU (every layer but the last): callers with a fused layer apply
/// the ReLU themselves ([`crate::fused::linear`]).
pub(crate) fn layer_chain<L>(
    layers: &[L],
    x: Tensor<2>,
    apply: impl Fn(&L, Tensor<2>, bool) -> Tensor<2>,
) -> Tensor<2> {
    let last = layers.len().saturating_sub(1);
    layers
        .iter()
        .enumerate()
        .fold(x, |h, (i, layer)| apply(layer, h, i < last))
}
