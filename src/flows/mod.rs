//! Flow layers and their composition.
//!
//! Every layer is a bijection between a data side `x` and a noise side `z` (the nflows
//! convention): [`Bijection::forward`] maps data → noise and [`Bijection::inverse`] maps
//! noise → data; both return `(output [batch, dim], log|det J| [batch])` of the map they
//! apply. A [`Flow`] cascades its layers forward and the reversed list backward, and scores
//! `log p(x) = log p_base(f(x)) + Σ_k log|det J_k(x)|`.

pub mod actnorm;
pub mod autoregressive;
pub mod base;
pub mod build;
pub mod composite;
pub mod coupling;
pub mod linear;
pub mod made;
pub mod mlp;
pub mod permutation;
pub mod planar;
#[cfg(test)]
mod properties;
pub mod radial;
pub mod spline;
pub mod tanh;
#[cfg(test)]
pub mod testing;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use base::{Base, BaseConfig};
pub use build::{FlowKind, FlowSpec};
pub use composite::{Flow, FlowConfig};

/// A bijection with a tractable log-determinant.
pub trait Bijection {
    /// Data → noise. Returns `(z [batch, dim], log|det ∂z/∂x| [batch])`.
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>);
    /// Noise → data. Returns `(x [batch, dim], log|det ∂x/∂z| [batch])`.
    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>);
}

/// The architecture of one layer: everything needed to rebuild it (weights aside).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerConfig {
    Planar(planar::PlanarConfig),
    Radial(radial::RadialConfig),
    Coupling(coupling::CouplingConfig),
    Spline(spline::SplineCouplingConfig),
    Autoregressive(autoregressive::AutoregressiveConfig),
    NaiveLinear(linear::NaiveLinearConfig),
    LuLinear(linear::LuLinearConfig),
    Permutation(permutation::PermutationConfig),
    Tanh(tanh::TanhBoxConfig),
    ActNorm(actnorm::ActNormConfig),
}

impl LayerConfig {
    /// Builds the layer with fresh parameters on `device`.
    pub fn init(&self, device: &Device) -> Layer {
        match self {
            Self::Planar(c) => Layer::Planar(c.init(device)),
            Self::Radial(c) => Layer::Radial(c.init(device)),
            Self::Coupling(c) => Layer::Coupling(c.init(device)),
            Self::Spline(c) => Layer::Spline(c.init(device)),
            Self::Autoregressive(c) => Layer::Autoregressive(c.init(device)),
            Self::NaiveLinear(c) => Layer::NaiveLinear(c.init(device)),
            Self::LuLinear(c) => Layer::LuLinear(c.init(device)),
            Self::Permutation(c) => Layer::Permutation(c.init(device)),
            Self::Tanh(c) => Layer::Tanh(c.init(device)),
            Self::ActNorm(c) => Layer::ActNorm(c.init(device)),
        }
    }

    /// A short human name for plots and the layer scrubber.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Planar(_) => "planar",
            Self::Radial(_) => "radial",
            Self::Coupling(c) if c.additive => "additive coupling",
            Self::Coupling(_) => "affine coupling",
            Self::Spline(_) => "RQ-spline coupling",
            Self::Autoregressive(c) => match c.direction {
                autoregressive::Direction::Maf => "MAF",
                autoregressive::Direction::Iaf => "IAF",
            },
            Self::NaiveLinear(_) => "linear",
            Self::LuLinear(_) => "LU linear",
            Self::Permutation(_) => "permutation",
            Self::Tanh(_) => "tanh box",
            Self::ActNorm(_) => "actnorm",
        }
    }

    /// The data dimension this layer acts on.
    pub fn dim(&self) -> usize {
        match self {
            Self::Planar(c) => c.dim,
            Self::Radial(c) => c.dim,
            Self::Coupling(c) => c.mask.len(),
            Self::Spline(c) => c.mask.len(),
            Self::Autoregressive(c) => c.dim,
            Self::NaiveLinear(c) => c.dim,
            Self::LuLinear(c) => c.dim,
            Self::Permutation(c) => c.indices.len(),
            Self::Tanh(c) => c.low.len(),
            Self::ActNorm(c) => c.dim,
        }
    }
}

/// One layer of a flow (a Burn module enum, so a `Vec<Layer>` is a module too).
#[derive(Module, Debug)]
pub enum Layer {
    Planar(planar::Planar),
    Radial(radial::Radial),
    Coupling(coupling::Coupling),
    Spline(spline::SplineCoupling),
    Autoregressive(autoregressive::Autoregressive),
    NaiveLinear(linear::NaiveLinear),
    LuLinear(linear::LuLinear),
    Permutation(permutation::Permutation),
    Tanh(tanh::TanhBox),
    ActNorm(actnorm::ActNorm),
}

impl Layer {
    fn as_bijection(&self) -> &dyn Bijection {
        match self {
            Self::Planar(l) => l,
            Self::Radial(l) => l,
            Self::Coupling(l) => l,
            Self::Spline(l) => l,
            Self::Autoregressive(l) => l,
            Self::NaiveLinear(l) => l,
            Self::LuLinear(l) => l,
            Self::Permutation(l) => l,
            Self::Tanh(l) => l,
            Self::ActNorm(l) => l,
        }
    }

    /// Data-dependent initialisation (ActNorm); other layers are returned unchanged.
    pub fn data_init(self, x: Tensor<2>) -> Self {
        match self {
            Self::ActNorm(l) => Self::ActNorm(l.data_init(x)),
            other => other,
        }
    }
}

impl Bijection for Layer {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.as_bijection().forward(x)
    }
    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.as_bijection().inverse(z)
    }
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
    let last = layers.len().saturating_sub(1);
    layers.iter().enumerate().fold(x, |h, (i, layer)| {
        let h = apply(layer, h);
        if i < last {
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
