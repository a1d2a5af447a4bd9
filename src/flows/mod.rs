//! Flow layers and their composition.
//!
//! Every layer is a bijection between a data side `x` and a noise side `z` (the nflows
//! convention): [`Bijection::forward`] maps data → noise and [`Bijection::inverse`] maps
//! noise → data; both return `(output [batch, dim], log|det J| [batch])` of the map they
//! apply. A [`Flow`] cascades its layers forward and the reversed list backward, and scores
//! `log p(x) = log p_base(f(x)) + Σ_k log|det J_k(x)|`.

pub mod actnorm;
pub mod actnorm2d;
pub mod autoregressive;
pub mod base;
pub mod build;
pub mod composite;
pub mod conv1x1;
pub mod conv_exp;
pub mod coupling;
pub mod emerging;
pub mod glow_coupling;
pub mod image;
pub mod leaky_relu;
pub mod linear;
pub mod logit;
pub mod made;
pub mod mlp;
pub mod multiscale;
pub mod permutation;
pub mod planar;
#[cfg(test)]
mod properties;
pub mod radial;
pub mod selfnorm;
pub mod spline;
pub mod split_prior;
pub mod squeeze;
pub mod tanh;
#[cfg(test)]
pub mod testing;
pub mod validate;

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
    /// The training-time forward pass: `(z, log-det term to differentiate, reconstruction
    /// loss [batch])`. By default the exact forward with no reconstruction loss; the
    /// self-normalizing layers ([`selfnorm`]) return a log-det term whose *value* is 0 and whose
    /// gradient is the self-normalized one, plus their layer-wise reconstruction loss.
    fn forward_train(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>, Option<Tensor<1>>) {
        let (z, ld) = self.forward(x);
        (z, ld, None)
    }
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
    Logit(logit::LogitConfig),
    LeakyRelu(leaky_relu::LeakyReluConfig),
    ActNorm2d(actnorm2d::ActNorm2dConfig),
    Conv1x1(conv1x1::Conv1x1Config),
    GlowCoupling(glow_coupling::GlowCouplingConfig),
    Squeeze(squeeze::SqueezeConfig),
    SplitPrior(split_prior::SplitPriorConfig),
    SelfNormLinear(selfnorm::SelfNormLinearConfig),
    SelfNormConv(selfnorm::SelfNormConvConfig),
    EmergingConv(emerging::EmergingConvConfig),
    ConvExp(conv_exp::ConvExpConfig),
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
            Self::Logit(c) => Layer::Logit(c.init(device)),
            Self::LeakyRelu(c) => Layer::LeakyRelu(c.init(device)),
            Self::ActNorm2d(c) => Layer::ActNorm2d(c.init(device)),
            Self::Conv1x1(c) => Layer::Conv1x1(c.init(device)),
            Self::GlowCoupling(c) => Layer::GlowCoupling(c.init(device)),
            Self::Squeeze(c) => Layer::Squeeze(c.init(device)),
            Self::SplitPrior(c) => Layer::SplitPrior(c.init(device)),
            Self::SelfNormLinear(c) => Layer::SelfNormLinear(c.init(device)),
            Self::SelfNormConv(c) => Layer::SelfNormConv(c.init(device)),
            Self::EmergingConv(c) => Layer::EmergingConv(c.init(device)),
            Self::ConvExp(c) => Layer::ConvExp(c.init(device)),
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
            Self::Logit(_) => "logit",
            Self::LeakyRelu(_) => "leaky ReLU",
            Self::ActNorm2d(_) => "actnorm (per channel)",
            Self::Conv1x1(c) if c.lu => "1×1 conv (LU)",
            Self::Conv1x1(_) => "1×1 conv",
            Self::GlowCoupling(_) => "Glow coupling",
            Self::Squeeze(_) => "squeeze",
            Self::SplitPrior(_) => "split prior",
            Self::SelfNormLinear(c) if c.self_normalized => "self-normalizing FC",
            Self::SelfNormLinear(_) => "exact FC",
            Self::SelfNormConv(c) if c.self_normalized => "self-normalizing conv",
            Self::SelfNormConv(_) => "exact conv",
            Self::EmergingConv(_) => "emerging conv",
            Self::ConvExp(_) => "conv exponential",
        }
    }

    /// The number of columns this layer acts on: the whole row, or (for image layers and the
    /// FC layer, see [`Self::acts_on_prefix`]) the first `dim` columns.
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
            Self::Logit(c) => c.dim,
            Self::LeakyRelu(c) => c.dim,
            Self::ActNorm2d(c) => c.shape.dim(),
            Self::Conv1x1(c) => c.shape.dim(),
            Self::GlowCoupling(c) => c.shape.dim(),
            Self::Squeeze(c) => c.shape.dim(),
            Self::SplitPrior(c) => c.shape.dim(),
            Self::SelfNormLinear(c) => c.dim,
            Self::SelfNormConv(c) => c.shape.dim(),
            Self::EmergingConv(c) => c.shape.dim(),
            Self::ConvExp(c) => c.shape.dim(),
        }
    }

    /// Whether the layer acts on the first [`Self::dim`] columns and passes the rest through
    /// (image layers after a split prior), rather than on exactly the whole row.
    pub fn acts_on_prefix(&self) -> bool {
        matches!(
            self,
            Self::ActNorm2d(_)
                | Self::Conv1x1(_)
                | Self::GlowCoupling(_)
                | Self::Squeeze(_)
                | Self::SplitPrior(_)
                | Self::SelfNormLinear(_)
                | Self::SelfNormConv(_)
                | Self::EmergingConv(_)
                | Self::ConvExp(_)
                | Self::LeakyRelu(_)
        )
    }
}

/// One layer of a flow (a Burn module enum, so a `Vec<Layer>` is a module too).
///
/// Variants differ in size (the emerging conv holds five tensors); a flow holds tens of layers
/// built once, so the padding costs nothing worth boxing the variants for.
#[allow(clippy::large_enum_variant)]
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
    Logit(logit::Logit),
    LeakyRelu(leaky_relu::LeakyRelu),
    ActNorm2d(actnorm2d::ActNorm2d),
    Conv1x1(conv1x1::Conv1x1),
    GlowCoupling(glow_coupling::GlowCoupling),
    Squeeze(squeeze::Squeeze),
    SplitPrior(split_prior::SplitPrior),
    SelfNormLinear(selfnorm::SelfNormLinear),
    SelfNormConv(selfnorm::SelfNormConv),
    EmergingConv(emerging::EmergingConv),
    ConvExp(conv_exp::ConvExp),
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
            Self::Logit(l) => l,
            Self::LeakyRelu(l) => l,
            Self::ActNorm2d(l) => l,
            Self::Conv1x1(l) => l,
            Self::GlowCoupling(l) => l,
            Self::Squeeze(l) => l,
            Self::SplitPrior(l) => l,
            Self::SelfNormLinear(l) => l,
            Self::SelfNormConv(l) => l,
            Self::EmergingConv(l) => l,
            Self::ConvExp(l) => l,
        }
    }

    /// Data-dependent initialisation (ActNorm); other layers are returned unchanged.
    pub fn data_init(self, x: Tensor<2>) -> Self {
        match self {
            Self::ActNorm(l) => Self::ActNorm(l.data_init(x)),
            Self::ActNorm2d(l) => Self::ActNorm2d(l.data_init(x)),
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
    fn forward_train(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>, Option<Tensor<1>>) {
        self.as_bijection().forward_train(x)
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
