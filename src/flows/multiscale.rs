//! Image flow architectures as layer lists (the builders the presets use).
//!
//! - [`glow`]: Glow's multiscale architecture (Kingma & Dhariwal 2018, arXiv:1807.03039, Fig. 2):
//!   `[logit] → L × [squeeze → K × (actnorm → channel mixer → affine coupling) → split prior]`
//!   (no split after the last level), standard normal base. The channel mixer is Glow's
//!   invertible 1×1 conv (plain or LU) or, for the SNF variants, a `k×k` self-normalizing,
//!   exact, emerging or exponential convolution.
//! - [`conv_flow`]: SNF's CNN flows (Keller et al. 2021, arXiv:2011.07248, §5):
//!   `logit → L × [squeeze → K × (conv → actnorm → leaky ReLU) → split prior]`, no couplings,
//!   so the convolutions carry all the modelling.
//! - [`fc_flow`]: SNF's fully connected flow: `logit → K × (FC → leaky ReLU)` on the flat image.

use serde::{Deserialize, Serialize};

use super::actnorm2d::ActNorm2dConfig;
use super::base::ClassConditionalConfig;
use super::conv_exp::ConvExpConfig;
use super::conv1x1::Conv1x1Config;
use super::emerging::EmergingConvConfig;
use super::glow_coupling::GlowCouplingConfig;
use super::image::ImageShape;
use super::label_head::LabelHeadConfig;
use super::leaky_relu::LeakyReluConfig;
use super::logit::LogitConfig;
use super::selfnorm::{SelfNormConvConfig, SelfNormLinearConfig};
use super::split_prior::SplitPriorConfig;
use super::squeeze::SqueezeConfig;
use super::validate::ArchitectureError;
use super::{BaseConfig, FlowConfig, LayerConfig};

/// The linear (channel- or pixel-mixing) layer of a flow step.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mixer {
    /// Glow's 1×1 conv with an LU parameterisation.
    Conv1x1Lu,
    /// Glow's 1×1 conv, plain matrix (exact `O(c³)` log-det).
    Conv1x1,
    /// `k×k` self-normalizing conv (approximate gradient, exact evaluation).
    SelfNorm { kernel: usize },
    /// `k×k` conv with the exact `O(D³)` log-det gradient (SNF's baseline).
    Exact { kernel: usize },
    /// Emerging `k×k` convolution.
    Emerging { kernel: usize },
    /// Convolution exponential with a `k×k` kernel.
    Exponential { kernel: usize },
}

impl Mixer {
    fn layer(&self, shape: ImageShape, symmetric: bool) -> LayerConfig {
        match *self {
            Mixer::Conv1x1Lu => LayerConfig::Conv1x1(Conv1x1Config::new(shape).with_lu(true)),
            Mixer::Conv1x1 => LayerConfig::Conv1x1(Conv1x1Config::new(shape).with_lu(false)),
            Mixer::SelfNorm { kernel } => LayerConfig::SelfNormConv(
                SelfNormConvConfig::new(shape)
                    .with_kernel(kernel)
                    .with_symmetric(symmetric),
            ),
            Mixer::Exact { kernel } => LayerConfig::SelfNormConv(
                SelfNormConvConfig::new(shape)
                    .with_kernel(kernel)
                    .with_self_normalized(false),
            ),
            Mixer::Emerging { kernel } => {
                LayerConfig::EmergingConv(EmergingConvConfig::new(shape).with_kernel(kernel))
            }
            Mixer::Exponential { kernel } => {
                LayerConfig::ConvExp(ConvExpConfig::new(shape).with_kernel(kernel))
            }
        }
    }
}

/// What the builders need to know.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageFlowSpec {
    pub shape: ImageShape,
    /// Number of scales `L`.
    pub levels: usize,
    /// Flow steps per scale `K` (FC flows: number of FC layers).
    pub steps: usize,
    /// Hidden channels of the coupling CNNs (Glow only).
    pub hidden: usize,
    pub mixer: Mixer,
    /// Symmetric reconstruction loss for self-normalizing layers.
    #[serde(default)]
    pub symmetric: bool,
    /// Logit preprocessing constant.
    pub alpha: f32,
    /// Start with the logit transform (`false`: the flow models the unit cube directly, as
    /// Glow does; ActNorm takes care of centring).
    #[serde(default = "yes")]
    pub logit: bool,
    /// `K > 0`: a class-conditional flow for generative classification — every split prior and
    /// the base are one Gaussian per class (the context is a one-hot label).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub classes: usize,
    /// A hybrid model: an unconditional flow with a linear softmax head on its latent
    /// ([`super::label_head`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hybrid: Option<HybridSpec>,
}

/// The label head of a hybrid model: `K` classes and the weight `β` of the label NLL.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct HybridSpec {
    pub classes: usize,
    pub label_weight: f64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn yes() -> bool {
    true
}

impl ImageFlowSpec {
    /// The usual setting: logit preprocessing with `α = 10⁻⁶`, plain reconstruction loss.
    pub fn new(
        shape: ImageShape,
        levels: usize,
        steps: usize,
        hidden: usize,
        mixer: Mixer,
    ) -> Self {
        Self {
            shape,
            levels,
            steps,
            hidden,
            mixer,
            symmetric: false,
            alpha: 1e-6,
            logit: true,
            classes: 0,
            hybrid: None,
        }
    }
}

fn head(spec: &ImageFlowSpec) -> Vec<LayerConfig> {
    if !spec.logit {
        return Vec::new();
    }
    vec![LayerConfig::Logit(
        LogitConfig::new(spec.shape.dim()).with_alpha(spec.alpha),
    )]
}

/// The multiscale skeleton: per level, squeeze, `step(shape)` K times, then a split prior.
fn multiscale(
    spec: &ImageFlowSpec,
    step: impl Fn(ImageShape, &mut Vec<LayerConfig>),
) -> Result<FlowConfig, ArchitectureError> {
    let mut shape = spec.shape;
    let factor = 1 << spec.levels;
    if !shape.height.is_multiple_of(factor) || !shape.width.is_multiple_of(factor) {
        return Err(ArchitectureError::Flow(format!(
            "{} levels need height and width divisible by {}, the image is {shape}",
            spec.levels,
            1 << spec.levels
        )));
    }
    let mut layers = head(spec);
    for level in 0..spec.levels {
        layers.push(LayerConfig::Squeeze(SqueezeConfig::new(shape)));
        shape = shape.squeezed();
        for _ in 0..spec.steps {
            step(shape, &mut layers);
        }
        if level + 1 < spec.levels {
            let split = SplitPriorConfig::new(shape)
                .with_classes((spec.classes > 0).then_some(spec.classes));
            shape = split.kept();
            layers.push(LayerConfig::SplitPrior(split));
        }
    }
    let dim = spec.shape.dim();
    let base = if spec.classes > 0 {
        BaseConfig::ClassConditional(ClassConditionalConfig::new(dim, spec.classes))
    } else {
        BaseConfig::StandardNormal { dim }
    };
    Ok(FlowConfig {
        layers,
        base,
        embedding: None,
        head: spec.hybrid.map(|h| LabelHeadConfig {
            input: dim,
            classes: h.classes,
            label_weight: h.label_weight,
        }),
    })
}

/// Glow (see the module docs).
pub fn glow(spec: &ImageFlowSpec) -> Result<FlowConfig, ArchitectureError> {
    multiscale(spec, |shape, layers| {
        layers.push(LayerConfig::ActNorm2d(ActNorm2dConfig::new(shape)));
        layers.push(spec.mixer.layer(shape, spec.symmetric));
        layers.push(LayerConfig::GlowCoupling(
            GlowCouplingConfig::new(shape).with_hidden(spec.hidden),
        ));
    })
}

/// SNF's CNN flow (see the module docs).
pub fn conv_flow(spec: &ImageFlowSpec) -> Result<FlowConfig, ArchitectureError> {
    multiscale(spec, |shape, layers| {
        layers.push(spec.mixer.layer(shape, spec.symmetric));
        layers.push(LayerConfig::ActNorm2d(ActNorm2dConfig::new(shape)));
        layers.push(LayerConfig::LeakyRelu(LeakyReluConfig::new(shape.dim())));
    })
}

/// SNF's FC flow: `K × (FC → leaky ReLU)`; `self_normalized = false` is the exact baseline.
pub fn fc_flow(spec: &ImageFlowSpec, self_normalized: bool) -> FlowConfig {
    let d = spec.shape.dim();
    let mut layers = head(spec);
    for _ in 0..spec.steps {
        layers.push(LayerConfig::SelfNormLinear(
            SelfNormLinearConfig::new(d)
                .with_self_normalized(self_normalized)
                .with_symmetric(spec.symmetric),
        ));
        layers.push(LayerConfig::LeakyRelu(LeakyReluConfig::new(d)));
    }
    FlowConfig {
        layers,
        base: BaseConfig::StandardNormal { dim: d },
        embedding: None,
        head: None,
    }
}
