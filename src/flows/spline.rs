//! Rational-quadratic spline coupling (Neural Spline Flows: Durkan, Bekasov, Murray &
//! Papamakarios 2019, arXiv:1906.04032): the masked-coupling shell
//! ([`super::masked_coupling`]) whose elementwise map is a monotone rational-quadratic spline
//! with `K` bins on `[−B, B]` and identity tails ([`super::rq_spline`]), its widths, heights and
//! interior derivatives from the conditioner `NN(m ⊙ x)`. Zero conditioner output gives the
//! identity.
//!
//! With `context = C > 0` the conditioner reads `[m ⊙ x, c]` (a conditional spline coupling).
//!
//! # Shapes
//! `NN: [batch, D + C] → [batch, D·(3K − 1)]` (widths `K`, heights `K`, interior derivatives
//! `K − 1` per coordinate); inputs `[batch, D]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::LayerSpec;
use super::mask_row;
use super::masked_coupling::{MaskedCoupling, Transformer};
use super::rq_spline::rq_spline;
use super::validate::{MAX_BINS, MAX_CONTEXT, conditioner, in_range, mask, mlp, positive_finite};
use crate::fused::mlp::Mlp;

/// Config of [`SplineCoupling`].
#[derive(Config, Debug, PartialEq)]
pub struct SplineCouplingConfig {
    pub mask: Vec<bool>,
    #[config(default = 64)]
    pub hidden: usize,
    #[config(default = 2)]
    pub hidden_layers: usize,
    #[config(default = 8)]
    pub bins: usize,
    /// Half-width `B` of the spline interval.
    #[config(default = 4.0)]
    pub tail_bound: f32,
    /// Size `C` of the context fed to the conditioner (none: unconditional; an `Option` so that
    /// files written before conditioning existed still load).
    pub context: Option<usize>,
}

impl SplineCouplingConfig {
    pub fn init(&self, device: &Device) -> SplineCoupling {
        let d = self.mask.len();
        SplineCoupling {
            net: Mlp::new(
                d + self.context.unwrap_or(0),
                self.hidden,
                self.hidden_layers,
                d * (3 * self.bins - 1),
                device,
            ),
            mask: mask_row(&self.mask, device),
            context: self.context.unwrap_or(0),
            bins: self.bins,
            tail_bound: self.tail_bound,
        }
    }
}

/// A rational-quadratic spline coupling layer.
#[derive(Module, Debug)]
pub struct SplineCoupling {
    pub net: Mlp,
    pub mask: Tensor<2>,
    /// Size of the context fed to `net` beside the kept coordinates (0: unconditional).
    #[module(skip)]
    pub context: usize,
    #[module(skip)]
    pub bins: usize,
    #[module(skip)]
    pub tail_bound: f32,
}

/// The rational-quadratic spline ([`rq_spline`]) of each transformed coordinate.
impl Transformer for SplineCoupling {
    fn transform(
        &self,
        theta: Tensor<2>,
        v: Tensor<2>,
        inverse: bool,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        let (y, ld) = rq_spline(theta, v, self.bins, self.tail_bound, inverse);
        (y, Some(ld))
    }
}

impl MaskedCoupling for SplineCoupling {
    fn parts(&self) -> (&Mlp, &Tensor<2>, usize) {
        (&self.net, &self.mask, self.context)
    }
}

impl LayerSpec for SplineCouplingConfig {
    fn name(&self) -> &'static str {
        "RQ-spline coupling"
    }

    fn dim(&self) -> usize {
        self.mask.len()
    }

    fn context(&self) -> usize {
        self.context.unwrap_or(0)
    }

    fn check(&self) -> Result<(), String> {
        mask(&self.mask)?;
        conditioner(self.hidden, self.hidden_layers)?;
        in_range("bins", self.bins, 2, MAX_BINS)?;
        positive_finite("tail bound", self.tail_bound)?;
        in_range("context", self.context.unwrap_or(0), 0, MAX_CONTEXT)
    }

    fn allocation_bound(&self) -> u128 {
        let d = self.mask.len() as u128;
        let out = d * (3 * self.bins as u128 - 1);
        let input = d + self.context.unwrap_or(0) as u128;
        mlp(input, self.hidden as u128, self.hidden_layers as u128, out) + d
    }
}
