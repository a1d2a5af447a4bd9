//! Base (latent) distributions: the standard normal, a learnable diagonal Gaussian, and two
//! conditional ones — a learned Gaussian per class (Glow's class-conditional prior, Kingma &
//! Dhariwal 2018, §3 and Appendix; the generative classifier's `p(z | y)`) and a diagonal
//! Gaussian whose mean and scale are a network of the context (nflows'
//! `ConditionalDiagonalNormal`).
//!
//! `log N(z; μ, diag σ²) = −½ Σ_j [(z_j − μ_j)²/σ_j² + log σ_j² + log 2π]`, shapes `z [batch, dim]`
//! → `[batch]`. The conditional bases take a context `c [batch, C]`:
//! - class-conditional: `c` is a one-hot label `[batch, K]`, `[μ | log σ²] = c · W`,
//!   `W [K, 2·dim]` (row `y` holds class `y`'s Gaussian; zeros at first: the standard normal);
//! - context network: `[μ | log σ²] = NN(c)`, the network's last layer zero at first.
//!
//! Samples are drawn on the host from a seeded [`Rng`] so a seed gives the same samples on
//! every backend.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::validate::{MAX_CONTEXT, conditioner, in_range, mlp};
use super::{context_or_zeros, sum_rows};
use crate::fused::mlp::Mlp;
use crate::rng::Rng;

/// `log 2π`.
pub const LOG_2PI: f32 = 1.837_877_1;

/// Which base distribution a flow uses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BaseConfig {
    /// N(0, I).
    StandardNormal { dim: usize },
    /// N(μ, diag σ²) with learnable μ and log σ² (initialised at 0: the standard normal).
    DiagGaussian(DiagGaussianConfig),
    /// N(μ_y, diag σ_y²) for class `y`, the context a one-hot label.
    ClassConditional(ClassConditionalConfig),
    /// N(μ(c), diag σ(c)²) from a network of the context.
    ConditionalGaussian(ConditionalGaussianConfig),
}

impl BaseConfig {
    pub fn dim(&self) -> usize {
        match self {
            Self::StandardNormal { dim } => *dim,
            Self::DiagGaussian(c) => c.dim,
            Self::ClassConditional(c) => c.dim,
            Self::ConditionalGaussian(c) => c.dim,
        }
    }

    /// The size of the context the base reads (0: unconditional; the class count for the
    /// class-conditional base).
    pub fn context(&self) -> usize {
        match self {
            Self::StandardNormal { .. } | Self::DiagGaussian(_) => 0,
            Self::ClassConditional(c) => c.classes,
            Self::ConditionalGaussian(c) => c.context,
        }
    }

    /// The number of classes of a class-conditional base.
    pub fn classes(&self) -> Option<usize> {
        match self {
            Self::ClassConditional(c) => Some(c.classes),
            _ => None,
        }
    }

    /// The numbers are within what a base can be built from (the flow checks `dim`).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::StandardNormal { .. } | Self::DiagGaussian(_) => Ok(()),
            Self::ClassConditional(c) => in_range("classes", c.classes, 2, MAX_CONTEXT),
            Self::ConditionalGaussian(c) => {
                in_range("context", c.context, 1, MAX_CONTEXT)?;
                conditioner(c.hidden, c.hidden_layers)
            }
        }
    }

    /// An upper bound on the floats building the base allocates.
    pub fn allocation_bound(&self) -> u128 {
        let d = self.dim() as u128;
        match self {
            Self::StandardNormal { .. } => 0,
            Self::DiagGaussian(_) => 2 * d,
            Self::ClassConditional(c) => 2 * d * c.classes as u128,
            Self::ConditionalGaussian(c) => mlp(
                c.context as u128,
                c.hidden as u128,
                c.hidden_layers as u128,
                2 * d,
            ),
        }
    }

    pub fn init(&self, device: &Device) -> Base {
        match self {
            Self::StandardNormal { dim } => Base::StandardNormal(StandardNormal { dim: *dim }),
            Self::DiagGaussian(c) => Base::DiagGaussian(c.init(device)),
            Self::ClassConditional(c) => Base::ClassConditional(ClassConditional {
                table: Param::from_tensor(Tensor::zeros([c.classes, 2 * c.dim], device)),
                dim: c.dim,
            }),
            Self::ConditionalGaussian(c) => Base::ConditionalGaussian(ConditionalGaussian {
                net: Mlp::new(c.context, c.hidden, c.hidden_layers, 2 * c.dim, device),
                dim: c.dim,
                context: c.context,
            }),
        }
    }
}

/// Config of [`DiagGaussian`].
#[derive(Config, Debug, PartialEq)]
pub struct DiagGaussianConfig {
    pub dim: usize,
}

impl DiagGaussianConfig {
    pub fn init(&self, device: &Device) -> DiagGaussian {
        DiagGaussian {
            loc: Param::from_tensor(Tensor::zeros([1, self.dim], device)),
            log_var: Param::from_tensor(Tensor::zeros([1, self.dim], device)),
        }
    }
}

/// Config of [`ClassConditional`].
#[derive(Config, Debug, PartialEq)]
pub struct ClassConditionalConfig {
    pub dim: usize,
    /// `K`: the context is a one-hot `[batch, K]`.
    pub classes: usize,
}

/// Config of [`ConditionalGaussian`].
#[derive(Config, Debug, PartialEq)]
pub struct ConditionalGaussianConfig {
    pub dim: usize,
    pub context: usize,
    #[config(default = 64)]
    pub hidden: usize,
    #[config(default = 2)]
    pub hidden_layers: usize,
}

/// The standard normal N(0, I) in `dim` dimensions.
#[derive(Module, Debug)]
pub struct StandardNormal {
    pub dim: usize,
}

/// A diagonal Gaussian with learnable mean `loc [1, dim]` and log-variance `log_var [1, dim]`.
#[derive(Module, Debug)]
pub struct DiagGaussian {
    pub loc: Param<Tensor<2>>,
    pub log_var: Param<Tensor<2>>,
}

/// One diagonal Gaussian per class: row `y` of `table [K, 2·dim]` is `[μ_y | log σ_y²]`.
#[derive(Module, Debug)]
pub struct ClassConditional {
    pub table: Param<Tensor<2>>,
    #[module(skip)]
    pub dim: usize,
}

/// A diagonal Gaussian with `[μ | log σ²] = net(c)`.
#[derive(Module, Debug)]
pub struct ConditionalGaussian {
    pub net: Mlp,
    #[module(skip)]
    pub dim: usize,
    #[module(skip)]
    pub context: usize,
}

/// A base distribution (module enum).
#[derive(Module, Debug)]
pub enum Base {
    StandardNormal(StandardNormal),
    DiagGaussian(DiagGaussian),
    ClassConditional(ClassConditional),
    ConditionalGaussian(ConditionalGaussian),
}

impl Base {
    pub fn dim(&self) -> usize {
        match self {
            Self::StandardNormal(b) => b.dim,
            Self::DiagGaussian(b) => b.loc.dims()[1],
            Self::ClassConditional(b) => b.dim,
            Self::ConditionalGaussian(b) => b.dim,
        }
    }

    /// `(μ, log σ²)`, each `[1, dim]` or `[batch, dim]`, or `None` for the standard normal.
    /// A missing context is read as zeros with `like`'s batch.
    fn moments(
        &self,
        context: Option<&Tensor<2>>,
        like: &Tensor<2>,
    ) -> Option<(Tensor<2>, Tensor<2>)> {
        let d = self.dim();
        let split = |t: Tensor<2>| (t.clone().narrow(1, 0, d), t.narrow(1, d, d));
        match self {
            Self::StandardNormal(_) => None,
            Self::DiagGaussian(b) => Some((b.loc.val(), b.log_var.val())),
            Self::ClassConditional(b) => {
                let k = b.table.dims()[0];
                let c = context_or_zeros(context, like, k);
                Some(split(c.matmul(b.table.val())))
            }
            Self::ConditionalGaussian(b) => {
                let c = context_or_zeros(context, like, b.context);
                Some(split(b.net.forward(c)))
            }
        }
    }

    /// `log p(z)`, `z [batch, dim]` → `[batch]`.
    pub fn log_prob(&self, z: Tensor<2>) -> Tensor<1> {
        self.log_prob_given(z, None)
    }

    /// `log p(z | c)`, `z [batch, dim]`, `c [batch, C]` → `[batch]` (an unconditional base
    /// ignores `c`; a conditional one reads a missing `c` as zeros).
    pub fn log_prob_given(&self, z: Tensor<2>, context: Option<&Tensor<2>>) -> Tensor<1> {
        let d = self.dim() as f32;
        let quad = match self.moments(context, &z) {
            None => z.square(),
            Some((loc, log_var)) => (z - loc).square() * log_var.clone().neg().exp() + log_var,
        };
        sum_rows(quad.mul_scalar(-0.5)).sub_scalar(0.5 * d * LOG_2PI)
    }

    /// `n` samples `z = μ + σ ε`, `ε ~ N(0, I)` drawn from `rng`; returns `(z [n, dim], log p(z) [n])`.
    pub fn sample(&self, n: usize, rng: &mut Rng, device: &Device) -> (Tensor<2>, Tensor<1>) {
        let d = self.dim();
        let eps = Tensor::<2>::from_data(TensorData::new(rng.normals_f32(n * d), [n, d]), device);
        self.from_standard(eps)
    }

    /// Maps standard-normal noise `ε [n, dim]` to base samples; returns `(z, log p(z))`.
    pub fn from_standard(&self, eps: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.from_standard_given(eps, None)
    }

    /// Maps standard-normal noise `ε [n, dim]` to samples of `p(z | c)`, `c [n, C]`; returns
    /// `(z, log p(z | c))`.
    pub fn from_standard_given(
        &self,
        eps: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<2>, Tensor<1>) {
        // `(z − μ)²/σ² = ε²`: the density comes from the noise, with the moments computed once
        // (for the context-network base they are a network pass).
        let d = self.dim() as f32;
        let (z, quad) = match self.moments(context, &eps) {
            None => (eps.clone(), eps.square()),
            Some((loc, log_var)) => (
                log_var.clone().mul_scalar(0.5).exp() * eps.clone() + loc,
                eps.square() + log_var,
            ),
        };
        let lp = sum_rows(quad.mul_scalar(-0.5)).sub_scalar(0.5 * d * LOG_2PI);
        (z, lp)
    }
}
