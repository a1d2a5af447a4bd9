//! Flow layers and their composition.
//!
//! Every layer is a bijection between a data side `x` and a noise side `z` (the nflows
//! convention): [`Bijection::forward`] maps data → noise and [`Bijection::inverse`] maps
//! noise → data; both return `(output [batch, dim], log|det J| [batch])` of the map they
//! apply. A [`Flow`] cascades its layers forward and the reversed list backward, and scores
//! `log p(x) = log p_base(f(x)) + Σ_k log|det J_k(x)|`.

pub mod actnorm;
pub mod actnorm2d;
pub mod architectures;
pub mod autoregressive;
pub mod base;
pub mod cnf;
pub mod composite;
#[cfg(test)]
mod conditional_properties;
pub mod conv1x1;
pub mod conv_exp;
pub mod coupling;
pub mod dense;
pub mod emerging;
#[cfg(test)]
mod fused_paths;
pub mod glow_coupling;
pub mod image;
pub mod label_head;
pub mod leaky_relu;
pub mod linear;
pub mod logit;
pub mod made;
pub mod masked_coupling;
pub mod multiscale;
pub mod ops;
pub mod permutation;
pub mod planar;
mod prefix_runs;
#[cfg(test)]
mod properties;
pub mod radial;
pub mod rq_spline;
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

pub use architectures::{FlowKind, FlowSpec};
pub use base::{Base, BaseConfig};
pub use composite::{Flow, FlowConfig};
pub use ops::each_row_n_times;
pub(crate) use ops::{
    context_or_zeros, mask_row, relu_chain, row, soft_clamp, sum_rows, zeros_like_batch,
};

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
    /// [`Self::forward`] given a context `c [batch, C]` (a conditional flow's conditioning
    /// input: an observation, a one-hot class). Unconditional layers ignore it (the default);
    /// conditional ones ([`LayerSpec::context`] > 0) feed it to their conditioner, and read a
    /// missing context as zeros.
    fn forward_given(&self, x: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        let _ = context;
        self.forward(x)
    }
    /// [`Self::inverse`] given a context (see [`Self::forward_given`]).
    fn inverse_given(&self, z: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        let _ = context;
        self.inverse(z)
    }
    /// [`Self::forward`] without its log-det (a continuous flow then skips its trace).
    fn forward_points(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x).0
    }
    /// [`Self::inverse`] without its log-det.
    fn inverse_points(&self, z: Tensor<2>) -> Tensor<2> {
        self.inverse(z).0
    }
    /// Data-dependent initialisation from a batch `x` (ActNorm sets its scale and bias so that
    /// `x` comes out standardised); by default the layer is returned unchanged.
    fn data_init(self, x: Tensor<2>) -> Self
    where
        Self: Sized,
    {
        let _ = x;
        self
    }
}

/// What a layer's configuration says about the layer it builds. Each layer file implements
/// it for its configuration (beside the configuration's `init(&self, &Device) -> TheLayer`), and
/// one line in the [`layers!`] table below registers the pair; nothing else changes to add a
/// layer.
pub trait LayerSpec {
    /// A short human name for plots and the layer scrubber.
    fn name(&self) -> &'static str;
    /// The number of columns the layer acts on: the whole row, or (see
    /// [`Self::acts_on_prefix`]) the first `dim` columns.
    fn dim(&self) -> usize;
    /// Whether the layer acts on the first [`Self::dim`] columns and passes the rest through
    /// (image layers after a split prior), rather than on exactly the whole row.
    fn acts_on_prefix(&self) -> bool {
        false
    }
    /// The numbers are within what the layer can be built from; the error names the first that
    /// is not (the caller adds which layer). Checked before any layer of a file is built
    /// ([`validate`]).
    fn check(&self) -> Result<(), String>;
    /// The size `C` of the context the layer is conditioned on (0: unconditional).
    fn context(&self) -> usize {
        0
    }
    /// An upper bound on the floats building the layer allocates (parameters, masks and the
    /// temporaries of its initialisation), from its numbers alone; meaningful after
    /// [`Self::check`]. The loader compares it with the weights a file holds before building
    /// anything.
    fn allocation_bound(&self) -> u128;
}

/// The registry: `Variant(config type => layer type)` for every layer. It generates
/// [`LayerConfig`] (serialised in `.flow` files as `{"type": "<variant in snake_case>", ...}`),
/// the module enum [`Layer`] (whose variant names key the weights), and their dispatch.
macro_rules! layers {
    ($($variant:ident($config:ty => $layer:ty)),* $(,)?) => {
        /// The architecture of one layer: everything needed to rebuild it (weights aside).
        #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum LayerConfig {
            $($variant($config),)*
        }

        /// One layer of a flow (a Burn module enum, so a `Vec<Layer>` is a module too).
        ///
        /// Variants differ in size (the emerging conv holds five tensors); a flow holds tens of
        /// layers built once, so the padding costs nothing worth boxing the variants for.
        #[allow(clippy::large_enum_variant)]
        #[derive(Module, Debug)]
        pub enum Layer {
            $($variant($layer),)*
        }

        impl LayerConfig {
            /// Builds the layer with fresh parameters on `device`.
            pub fn init(&self, device: &Device) -> Layer {
                match self {
                    $(Self::$variant(c) => Layer::$variant(c.init(device)),)*
                }
            }

            fn spec(&self) -> &dyn LayerSpec {
                match self {
                    $(Self::$variant(c) => c,)*
                }
            }
        }

        impl Layer {
            fn as_bijection(&self) -> &dyn Bijection {
                match self {
                    $(Self::$variant(l) => l,)*
                }
            }

            /// Data-dependent initialisation (ActNorm); other layers are returned unchanged.
            pub fn data_init(self, x: Tensor<2>) -> Self {
                match self {
                    $(Self::$variant(l) => Self::$variant(l.data_init(x)),)*
                }
            }
        }
    };
}

layers! {
    Planar(planar::PlanarConfig => planar::Planar),
    Radial(radial::RadialConfig => radial::Radial),
    Coupling(coupling::CouplingConfig => coupling::Coupling),
    Spline(spline::SplineCouplingConfig => spline::SplineCoupling),
    Autoregressive(autoregressive::AutoregressiveConfig => autoregressive::Autoregressive),
    NaiveLinear(linear::NaiveLinearConfig => linear::NaiveLinear),
    LuLinear(linear::LuLinearConfig => linear::LuLinear),
    Permutation(permutation::PermutationConfig => permutation::Permutation),
    Tanh(tanh::TanhBoxConfig => tanh::TanhBox),
    ActNorm(actnorm::ActNormConfig => actnorm::ActNorm),
    Logit(logit::LogitConfig => logit::Logit),
    LeakyRelu(leaky_relu::LeakyReluConfig => leaky_relu::LeakyRelu),
    ActNorm2d(actnorm2d::ActNorm2dConfig => actnorm2d::ActNorm2d),
    Conv1x1(conv1x1::Conv1x1Config => conv1x1::Conv1x1),
    GlowCoupling(glow_coupling::GlowCouplingConfig => glow_coupling::GlowCoupling),
    Squeeze(squeeze::SqueezeConfig => squeeze::Squeeze),
    SplitPrior(split_prior::SplitPriorConfig => split_prior::SplitPrior),
    SelfNormLinear(selfnorm::SelfNormLinearConfig => selfnorm::SelfNormLinear),
    SelfNormConv(selfnorm::SelfNormConvConfig => selfnorm::SelfNormConv),
    EmergingConv(emerging::EmergingConvConfig => emerging::EmergingConv),
    ConvExp(conv_exp::ConvExpConfig => conv_exp::ConvExp),
    Cnf(cnf::CnfConfig => cnf::Cnf),
}

/// The registered layer's [`LayerSpec`], callable without importing the trait.
impl LayerConfig {
    pub fn name(&self) -> &'static str {
        self.spec().name()
    }
    pub fn dim(&self) -> usize {
        self.spec().dim()
    }
    pub fn acts_on_prefix(&self) -> bool {
        self.spec().acts_on_prefix()
    }
    pub fn check(&self) -> Result<(), String> {
        self.spec().check()
    }
    pub fn allocation_bound(&self) -> u128 {
        self.spec().allocation_bound()
    }
    pub fn context(&self) -> usize {
        self.spec().context()
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
    fn forward_given(&self, x: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        self.as_bijection().forward_given(x, context)
    }
    fn inverse_given(&self, z: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        self.as_bijection().inverse_given(z, context)
    }
    fn forward_points(&self, x: Tensor<2>) -> Tensor<2> {
        self.as_bijection().forward_points(x)
    }
    fn inverse_points(&self, z: Tensor<2>) -> Tensor<2> {
        self.as_bijection().inverse_points(z)
    }
}
