//! MADE: Masked Autoencoder for Distribution Estimation (Germain, Gregor, Murray & Larochelle
//! 2015, arXiv:1502.03509).
//!
//! Each unit gets a degree; input `j` has degree `j + 1` (1..=D), hidden units cycle through
//! `1..=D−1` (as nflows does), and each of the `params_per_dim` output blocks has degrees
//! `1..=D`. A weight from unit `a` to hidden unit `b` is kept when `deg(b) ≥ deg(a)`; to an
//! output when `deg(out) > deg(a)`. So output `i` depends only on inputs `x_{<i}`, which makes
//! the Jacobian of every output block strictly lower triangular.
//!
//! A conditional MADE (Papamakarios et al. 2017, §3.4) also reads a context `c [batch, C]`:
//! its units have degree 0, so every hidden unit may see them and every output depends on the
//! whole context and on `x_{<i}`.
//!
//! # Shapes
//! `[x, c] [batch, D + C]` → `[batch, params_per_dim · D]` (block `p` is `[:, p·D .. (p+1)·D]`).

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor, TensorData};

/// A linear layer whose weight `[in, out]` is multiplied by a constant 0/1 mask.
#[derive(Module, Debug)]
pub struct MaskedLinear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    pub mask: Tensor<2>,
}

impl MaskedLinear {
    fn new(mask: Vec<f32>, inputs: usize, outputs: usize, zero: bool, device: &Device) -> Self {
        let init = if zero {
            Initializer::Zeros
        } else {
            Initializer::KaimingUniform {
                gain: 1.0 / 3f64.sqrt(),
                fan_out_only: false,
            }
        };
        Self {
            weight: init.init_with([inputs, outputs], Some(inputs), Some(outputs), device),
            bias: Initializer::Zeros.init([outputs], device),
            mask: Tensor::from_data(TensorData::new(mask, [inputs, outputs]), device),
        }
    }

    /// `[batch, in] → [batch, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val() * self.mask.clone()) + self.bias.val().unsqueeze_dim(0)
    }
}

/// A MADE network.
#[derive(Module, Debug)]
pub struct Made {
    pub layers: Vec<MaskedLinear>,
}

fn mask(from: &[usize], to: &[usize], strict: bool) -> Vec<f32> {
    let mut m = Vec::with_capacity(from.len() * to.len());
    for &a in from {
        for &b in to {
            let keep = if strict { b > a } else { b >= a };
            m.push(if keep { 1.0 } else { 0.0 });
        }
    }
    m
}

impl Made {
    /// `dim` inputs (then `context` context inputs), `hidden_layers` layers of `hidden` units,
    /// `params_per_dim` outputs per input.
    pub fn new(
        dim: usize,
        context: usize,
        hidden: usize,
        hidden_layers: usize,
        params_per_dim: usize,
        device: &Device,
    ) -> Self {
        let input_deg: Vec<usize> = (1..=dim).chain(std::iter::repeat_n(0, context)).collect();
        let cycle = dim.saturating_sub(1).max(1);
        let hidden_deg: Vec<usize> = (0..hidden).map(|k| k % cycle + 1).collect();
        let output_deg: Vec<usize> = (0..params_per_dim).flat_map(|_| 1..=dim).collect();
        let mut layers = Vec::new();
        let mut prev = input_deg;
        for _ in 0..hidden_layers.max(1) {
            let m = mask(&prev, &hidden_deg, false);
            layers.push(MaskedLinear::new(m, prev.len(), hidden, false, device));
            prev = hidden_deg.clone();
        }
        let m = mask(&prev, &output_deg, true);
        layers.push(MaskedLinear::new(
            m,
            prev.len(),
            output_deg.len(),
            true,
            device,
        ));
        Self { layers }
    }

    /// # Shapes
    /// `x [batch, D + C]` (the context after the data) → `[batch, params_per_dim · D]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        super::relu_chain(&self.layers, x, |l, h| l.forward(h))
    }
}
