//! The shell every coupling layer shares (nflows' `CouplingTransform`, zuko's
//! `GeneralCouplingTransform`): a binary mask `m` (1 = conditioning coordinate, passed through),
//! a conditioner network `θ = NN(m ⊙ v)`, and an elementwise invertible map `τ(·; θ)` applied
//! to the other coordinates:
//!
//! `y = m ⊙ v + (1 − m) ⊙ τ(v; θ)`,  `log|det ∂y/∂v| = Σ_j (1 − m_j) log|τ'_j(v_j; θ_j)|`.
//!
//! Because `θ` depends only on `m ⊙ v`, which `y` keeps, the inverse is the same shell with
//! `τ⁻¹`. The affine and additive couplings ([`super::coupling`]) and the rational-quadratic
//! spline coupling ([`super::spline`]) are this shell with their own [`Transformer`].
//!
//! A conditional coupling (nflows' `context`, zuko's `c`) feeds its conditioner the context as
//! well: `θ = NN([m ⊙ v, c])`; the inverse sees the same `c`, so it stays exact.
//!
//! # Shapes
//! `mask: [1, D]`; `v, y: [batch, D]`; `θ: [batch, D·P]` (the conditioner's raw output,
//! `P` numbers per coordinate, laid out as the transformer reads them); context `c [batch, C]`;
//! log-dets `[batch]`.

use burn::tensor::Tensor;

use super::{Bijection, context_or_zeros, sum_rows, zeros_like_batch};
use crate::fused::mlp::Mlp;

/// The elementwise map `τ` of a coupling.
pub trait Transformer {
    /// `τ(v; θ)` (or `τ⁻¹` when `inverse`) of every coordinate of `v [batch, D]`, and the
    /// elementwise `log|∂τ/∂v|` `[batch, D]` of the map applied (`None` where it is 0, as for
    /// an additive shift).
    fn transform(
        &self,
        theta: Tensor<2>,
        v: Tensor<2>,
        inverse: bool,
    ) -> (Tensor<2>, Option<Tensor<2>>);

    /// The whole shell after the conditioner, `(y, log|det|)` from `θ`, `v` and the mask, as
    /// one fused operation where the transformer and the backend have one (the affine
    /// coupling on the CPU backend: [`crate::fused::affine`]); `None` runs [`Self::transform`]
    /// and the mask arithmetic as separate tensor operations.
    fn fused(
        &self,
        theta: &Tensor<2>,
        v: &Tensor<2>,
        mask: &Tensor<2>,
        inverse: bool,
    ) -> Option<(Tensor<2>, Tensor<1>)> {
        let _ = (theta, v, mask, inverse);
        None
    }

    /// The whole coupling — mask, conditioner `net` and transform — as one fused operation
    /// where the transformer, the conditioner and the backend allow (the affine coupling with a
    /// three-layer conditioner on the CPU backend: [`crate::fused::coupling`]); `None` composes
    /// it from the conditioner's layers and [`Self::fused`] or [`Self::transform`].
    fn fused_coupling(
        &self,
        net: &Mlp,
        v: &Tensor<2>,
        mask: &Tensor<2>,
        inverse: bool,
    ) -> Option<(Tensor<2>, Tensor<1>)> {
        let _ = (net, v, mask, inverse);
        None
    }
}

/// A layer that is this shell: its conditioner, its mask and the size of the context it reads
/// (0: unconditional). Every such layer is a [`Bijection`] through [`couple`].
pub trait MaskedCoupling: Transformer {
    fn parts(&self) -> (&Mlp, &Tensor<2>, usize);

    /// [`couple`] with this layer's parts, a missing context read as zeros.
    fn step(
        &self,
        v: Tensor<2>,
        context: Option<&Tensor<2>>,
        inverse: bool,
    ) -> (Tensor<2>, Tensor<1>)
    where
        Self: Sized,
    {
        let (net, mask, size) = self.parts();
        let c = (size > 0).then(|| context_or_zeros(context, &v, size));
        couple(net, mask, self, v, c, inverse)
    }
}

impl<T: MaskedCoupling> Bijection for T {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.step(x, None, false)
    }

    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.step(z, None, true)
    }

    fn forward_given(&self, x: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        self.step(x, context, false)
    }

    fn inverse_given(&self, z: Tensor<2>, context: Option<&Tensor<2>>) -> (Tensor<2>, Tensor<1>) {
        self.step(z, context, true)
    }
}

/// One coupling step: `(y [batch, D], log|det| [batch])` of the shell around `transformer`,
/// conditioned on `context [batch, C]` when there is one.
pub fn couple(
    net: &Mlp,
    mask: &Tensor<2>,
    transformer: &impl Transformer,
    v: Tensor<2>,
    context: Option<Tensor<2>>,
    inverse: bool,
) -> (Tensor<2>, Tensor<1>) {
    if context.is_none()
        && let Some(fused) = transformer.fused_coupling(net, &v, mask, inverse)
    {
        return fused;
    }
    let kept = v.clone() * mask.clone();
    let input = match context {
        Some(c) => Tensor::cat(vec![kept, c], 1),
        None => kept,
    };
    let theta = net.forward(input);
    if let Some(fused) = transformer.fused(&theta, &v, mask, inverse) {
        return fused;
    }
    let (tau, log_abs_det) = transformer.transform(theta, v.clone(), inverse);
    let free = mask.clone().neg().add_scalar(1.0);
    let y = v * mask.clone() + tau * free.clone();
    let ld = match log_abs_det {
        Some(l) => sum_rows(l * free),
        None => zeros_like_batch(&y),
    };
    (y, ld)
}
