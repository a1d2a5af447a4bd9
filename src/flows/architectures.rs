//! Named flow architectures (the `--flow` choices of the CLI and the page): a [`FlowSpec`]
//! expands into a full [`FlowConfig`].

use serde::{Deserialize, Serialize};

use super::actnorm::ActNormConfig;
use super::autoregressive::{ArTransform, AutoregressiveConfig, Direction};
use super::base::{BaseConfig, DiagGaussianConfig};
use super::cnf::{CnfConfig, Solver};
use super::coupling::{CouplingConfig, alternating_mask};
use super::linear::LuLinearConfig;
use super::permutation::PermutationConfig;
use super::planar::PlanarConfig;
use super::radial::RadialConfig;
use super::spline::SplineCouplingConfig;
use super::tanh::TanhBoxConfig;
use super::{FlowConfig, LayerConfig};

/// The flow families a user can pick by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowKind {
    Planar,
    Radial,
    Realnvp,
    Nice,
    Maf,
    Iaf,
    Nsf,
    /// The autoregressive Neural Spline Flow: MAF layers whose transformer is a
    /// rational-quadratic spline.
    #[serde(rename = "nsf-ar")]
    NsfAr,
    /// mbank's standard flow (Schmidt et al. 2024, arXiv:2309.09992): a learnable tanh box, then
    /// N × (an LU linear layer + a MAF layer).
    Mbank,
    /// A continuous flow (`flows::cnf`): one ODE layer whose velocity MLP has `layers`
    /// hidden-to-hidden layers; trained by flow matching or by maximum likelihood (FFJORD).
    Cnf,
}

impl FlowKind {
    pub const ALL: [FlowKind; 10] = [
        Self::Planar,
        Self::Radial,
        Self::Realnvp,
        Self::Nice,
        Self::Maf,
        Self::Iaf,
        Self::Nsf,
        Self::NsfAr,
        Self::Mbank,
        Self::Cnf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Planar => "planar",
            Self::Radial => "radial",
            Self::Realnvp => "realnvp",
            Self::Nice => "nice",
            Self::Maf => "maf",
            Self::Iaf => "iaf",
            Self::Nsf => "nsf",
            Self::NsfAr => "nsf-ar",
            Self::Mbank => "mbank",
            Self::Cnf => "cnf",
        }
    }

    /// Default number of layers for this family (planar/radial need many thin layers).
    pub fn default_layers(self) -> usize {
        match self {
            Self::Planar | Self::Radial => 16,
            Self::Cnf => 3,
            _ => 8,
        }
    }

    /// Default width of the conditioner networks (a CNF's one velocity MLP does all the work,
    /// so it is wider: 128 fits moons within 0.1 nats of its entropy in 2 000 flow-matching
    /// steps where 64 stays 0.34 above).
    pub fn default_hidden(self) -> usize {
        match self {
            Self::Cnf => 128,
            _ => 64,
        }
    }
}

impl std::fmt::Display for FlowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FlowKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("unknown flow '{s}': expected one of {}", names.join(", "))
            })
    }
}

/// A named architecture with its sizes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FlowSpec {
    pub kind: FlowKind,
    pub dim: usize,
    /// Number of flow layers (couplings, autoregressive layers, planar/radial maps).
    pub layers: usize,
    /// Width of the conditioner networks.
    pub hidden: usize,
    /// Spline bins (nsf).
    pub bins: usize,
    /// Spline interval half-width (nsf).
    pub tail_bound: f32,
    /// Start with a data-initialised ActNorm (standardises the data).
    pub actnorm: bool,
    /// A known bounded support `(low, high)`: the flow then starts (data side) with a fixed
    /// tanh box, so all of its mass lies inside. For `mbank` the box is its first layer: learnt
    /// from `±4` when none is given, or from this start when `learn_box` (the data's extent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<(Vec<f32>, Vec<f32>)>,
    /// `mbank`: `support` is the extent of the data it is fitted to, and the box adds learnt
    /// margins beyond it. A target's known support (an energy's box) stays fixed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learn_box: bool,
    /// `cnf`: the RK4 steps of its ODE solver.
    #[serde(default = "default_solver_steps")]
    pub solver_steps: usize,
    /// An LU linear layer right after the ActNorm, for a whitening to be written into
    /// (`fit --csv` starts every flow from the training rows' full-covariance Gaussian).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whiten: bool,
}

fn default_solver_steps() -> usize {
    16
}

impl FlowSpec {
    pub fn new(kind: FlowKind, dim: usize) -> Self {
        Self {
            kind,
            dim,
            layers: kind.default_layers(),
            hidden: kind.default_hidden(),
            bins: 8,
            tail_bound: 4.0,
            actnorm: true,
            support: None,
            learn_box: false,
            solver_steps: default_solver_steps(),
            whiten: false,
        }
    }

    pub fn with_support(mut self, low: Vec<f32>, high: Vec<f32>) -> Self {
        self.support = Some((low, high));
        self
    }

    pub fn with_layers(mut self, layers: usize) -> Self {
        self.layers = layers;
        self
    }

    pub fn with_hidden(mut self, hidden: usize) -> Self {
        self.hidden = hidden;
        self
    }

    /// Step `i` of the family's stack: its layers appended to `layers`.
    fn push_step(&self, i: usize, layers: &mut Vec<LayerConfig>) {
        let (d, h) = (self.dim, self.hidden);
        match self.kind {
            FlowKind::Cnf => layers.push(LayerConfig::Cnf(
                CnfConfig::new(d)
                    .with_hidden(h)
                    .with_hidden_layers(self.layers)
                    .with_solver(Solver::Rk4 {
                        steps: self.solver_steps,
                    }),
            )),
            FlowKind::Planar => layers.push(LayerConfig::Planar(PlanarConfig::new(d))),
            FlowKind::Radial => layers.push(LayerConfig::Radial(RadialConfig::new(d))),
            FlowKind::Realnvp | FlowKind::Nice => {
                layers.push(LayerConfig::Coupling(
                    CouplingConfig::new(alternating_mask(d, i))
                        .with_hidden(h)
                        .with_additive(self.kind == FlowKind::Nice),
                ));
            }
            FlowKind::Maf | FlowKind::Iaf => {
                let direction = if self.kind == FlowKind::Maf {
                    Direction::Maf
                } else {
                    Direction::Iaf
                };
                layers.push(LayerConfig::Autoregressive(
                    AutoregressiveConfig::new(d, direction).with_hidden(h),
                ));
                layers.push(LayerConfig::Permutation(PermutationConfig::reverse(d)));
            }
            FlowKind::Nsf => {
                layers.push(LayerConfig::Spline(
                    SplineCouplingConfig::new(alternating_mask(d, i))
                        .with_hidden(h)
                        .with_bins(self.bins)
                        .with_tail_bound(self.tail_bound),
                ));
                layers.push(LayerConfig::LuLinear(LuLinearConfig::new(d)));
            }
            FlowKind::Mbank => {
                layers.push(LayerConfig::LuLinear(LuLinearConfig::new(d)));
                layers.push(LayerConfig::Autoregressive(
                    AutoregressiveConfig::new(d, Direction::Maf).with_hidden(h),
                ));
            }
            FlowKind::NsfAr => {
                layers.push(LayerConfig::Autoregressive(
                    AutoregressiveConfig::new(d, Direction::Maf)
                        .with_hidden(h)
                        .with_transform(Some(ArTransform::Spline {
                            bins: self.bins,
                            tail_bound: self.tail_bound,
                        })),
                ));
                layers.push(LayerConfig::Permutation(PermutationConfig::reverse(d)));
            }
        }
    }

    /// The full layer list.
    pub fn config(&self) -> FlowConfig {
        let d = self.dim;
        let mut layers = Vec::new();
        let mbank = self.kind == FlowKind::Mbank;
        // (bounds, learnt, around data): a known support is fixed; mbank's box around its data
        // learns margins beyond the data's extent; without data, it learns its edges from ±4.
        let first_box = match &self.support {
            Some(b) => Some((b.clone(), mbank && self.learn_box, mbank && self.learn_box)),
            None if mbank => Some(((vec![-4.0; d], vec![4.0; d]), true, false)),
            None => None,
        };
        if let Some(((low, high), learnable, margins)) = first_box {
            layers.push(LayerConfig::Tanh(
                TanhBoxConfig::new(low, high)
                    .with_learnable(learnable)
                    .with_margins(margins),
            ));
        }
        // mbank's flow has no normalisation layer: the box already scales the data.
        if self.actnorm && !mbank {
            layers.push(LayerConfig::ActNorm(ActNormConfig::new(d)));
            if self.whiten {
                layers.push(LayerConfig::LuLinear(LuLinearConfig::new(d)));
            }
        }
        let mut base = BaseConfig::StandardNormal { dim: d };
        // A continuous flow is one ODE layer; `layers` is its velocity MLP's depth.
        let repeats = if self.kind == FlowKind::Cnf {
            1
        } else {
            self.layers
        };
        for i in 0..repeats {
            self.push_step(i, &mut layers);
        }
        match self.kind {
            // Rezende & Mohamed's flows have few parameters; a learnable Gaussian base helps.
            FlowKind::Planar | FlowKind::Radial => {
                base = BaseConfig::DiagGaussian(DiagGaussianConfig::new(d));
            }
            // NICE's final diagonal scaling layer.
            FlowKind::Nice => layers.push(LayerConfig::ActNorm(ActNormConfig::new(d))),
            _ => {}
        }
        FlowConfig {
            layers,
            base,
            embedding: None,
            head: None,
        }
    }
}
