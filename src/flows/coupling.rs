//! Affine coupling (RealNVP: Dinh, Sohl-Dickstein & Bengio 2017, arXiv:1605.08803) and
//! additive coupling (NICE: Dinh, Krueger & Bengio 2015, arXiv:1410.8516).
//!
//! The masked-coupling shell ([`super::masked_coupling`]) with a binary mask `m` (1 =
//! conditioning dimension, passed through unchanged) and a conditioner network
//! `(s, t) = NN(m ⊙ x)`:
//! - affine, data → noise: `z = m ⊙ x + (1 − m) ⊙ (x ⊙ exp(s) + t)`,
//!   `log|det| = Σ_j (1 − m_j) s_j`; noise → data: `x = m ⊙ z + (1 − m) ⊙ (z − t) ⊙ exp(−s)`.
//! - additive: `s ≡ 0`, so `log|det| = 0` (NICE relies on a final scaling or ActNorm to change volume).
//!
//! `s` is soft-clamped to `±scale_clamp` (`c·tanh(s/c)`) so one step cannot blow up.
//!
//! With `context = C > 0` the conditioner also reads a context `c` (a conditional coupling,
//! as in conditional RealNVP / Ardizzone et al. 2019's cINN): `(s, t) = NN([m ⊙ x, c])`.
//!
//! # Shapes
//! `mask: [1, dim]`; `NN: [batch, dim + C] → [batch, 2·dim]` (affine) or `[batch, dim]` (additive);
//! inputs `[batch, dim]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::LayerSpec;
use super::masked_coupling::{MaskedCoupling, Transformer};
use super::validate::{MAX_CONTEXT, conditioner, in_range, mask, mlp, positive_finite};
use super::{mask_row, soft_clamp};
use crate::fused::mlp::Mlp;
use crate::rng::Rng;

/// Config of [`Coupling`].
#[derive(Config, Debug, PartialEq)]
pub struct CouplingConfig {
    /// `true` = the dimension conditions the others and passes through unchanged.
    pub mask: Vec<bool>,
    #[config(default = 64)]
    pub hidden: usize,
    #[config(default = 2)]
    pub hidden_layers: usize,
    /// NICE's additive coupling instead of RealNVP's affine one.
    #[config(default = false)]
    pub additive: bool,
    #[config(default = 3.0)]
    pub scale_clamp: f32,
    /// Size `C` of the context fed to the conditioner (none: unconditional; an `Option` so that
    /// files written before conditioning existed still load).
    pub context: Option<usize>,
}

impl CouplingConfig {
    pub fn init(&self, device: &Device) -> Coupling {
        let d = self.mask.len();
        let outputs = if self.additive { d } else { 2 * d };
        Coupling {
            net: Mlp::new(
                d + self.context.unwrap_or(0),
                self.hidden,
                self.hidden_layers,
                outputs,
                device,
            ),
            mask: mask_row(&self.mask, device),
            context: self.context.unwrap_or(0),
            additive: self.additive,
            scale_clamp: self.scale_clamp,
        }
    }
}

/// Alternating mask for layer `index`: dimension `j` conditions when `(j + index)` is even.
pub fn alternating_mask(dim: usize, index: usize) -> Vec<bool> {
    (0..dim).map(|j| (j + index).is_multiple_of(2)).collect()
}

/// A seeded random mask with `⌈dim/2⌉` conditioning dimensions.
pub fn random_mask(dim: usize, rng: &mut Rng) -> Vec<bool> {
    let perm = rng.permutation(dim);
    let mut mask = vec![false; dim];
    for &j in perm.iter().take(dim.div_ceil(2)) {
        mask[j] = true;
    }
    mask
}

/// An affine or additive coupling layer.
#[derive(Module, Debug)]
pub struct Coupling {
    pub net: Mlp,
    /// Constant `[1, dim]` mask (rebuilt from the config, not stored in weight files).
    pub mask: Tensor<2>,
    /// Size of the context fed to `net` beside the kept coordinates (0: unconditional).
    #[module(skip)]
    pub context: usize,
    #[module(skip)]
    pub additive: bool,
    #[module(skip)]
    pub scale_clamp: f32,
}

/// RealNVP's affine map `τ(v) = v·exp(s) + t` (`θ = [s | t]`, `s` soft-clamped to
/// `±scale_clamp`), or NICE's shift `τ(v) = v + t` (`θ = t`).
impl Transformer for Coupling {
    fn transform(
        &self,
        theta: Tensor<2>,
        v: Tensor<2>,
        inverse: bool,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        if self.additive {
            let t = theta;
            return (if inverse { v - t } else { v + t }, None);
        }
        let d = v.dims()[1];
        let s = soft_clamp(theta.clone().narrow(1, 0, d), self.scale_clamp);
        let t = theta.narrow(1, d, d);
        if inverse {
            ((v - t) * s.clone().neg().exp(), Some(s.neg()))
        } else {
            (v * s.clone().exp() + t, Some(s))
        }
    }

    fn fused(
        &self,
        theta: &Tensor<2>,
        v: &Tensor<2>,
        mask: &Tensor<2>,
        inverse: bool,
    ) -> Option<(Tensor<2>, Tensor<1>)> {
        if self.additive {
            return None;
        }
        crate::fused::affine::couple(theta, v, mask, self.scale_clamp, inverse)
    }

    fn fused_coupling(
        &self,
        net: &Mlp,
        v: &Tensor<2>,
        mask: &Tensor<2>,
        inverse: bool,
    ) -> Option<(Tensor<2>, Tensor<1>)> {
        if self.additive {
            return None;
        }
        crate::fused::coupling::couple(net, v, mask, self.scale_clamp, inverse)
    }
}

impl MaskedCoupling for Coupling {
    fn parts(&self) -> (&Mlp, &Tensor<2>, usize) {
        (&self.net, &self.mask, self.context)
    }
}

impl LayerSpec for CouplingConfig {
    fn name(&self) -> &'static str {
        if self.additive {
            "additive coupling"
        } else {
            "affine coupling"
        }
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
        positive_finite("scale clamp", self.scale_clamp)?;
        in_range("context", self.context.unwrap_or(0), 0, MAX_CONTEXT)
    }

    fn allocation_bound(&self) -> u128 {
        let d = self.mask.len() as u128;
        let out = if self.additive { d } else { 2 * d };
        let input = d + self.context.unwrap_or(0) as u128;
        mlp(input, self.hidden as u128, self.hidden_layers as u128, out) + d
    }
}
