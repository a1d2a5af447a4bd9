//! Global gradient-norm clipping (PyTorch's `clip_grad_norm_`): when the norm of all gradients
//! taken together, `‖g‖ = sqrt(Σ_p Σ_i g_{p,i}²)`, exceeds `c`, every gradient is scaled by
//! `c / ‖g‖`, so the update keeps its direction. (Burn's `GradientClippingConfig::Norm` clips
//! each parameter's gradient on its own, which turns the update.)
//!
//! The scale is computed as a tensor, `c / max(‖g‖, c)`, with no readback, so the same code
//! runs natively and in the page on every backend.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::flows::Flow;

/// Scales `grads` (the gradients of `model`'s parameters) so that their global norm is at most
/// `max_norm`.
pub fn clip_global_norm(model: &Flow, grads: GradientsParams, max_norm: f32) -> GradientsParams {
    // Every gradient flattened into one vector, then one reduction: a full `sum()` per
    // parameter is a zero fill and an atomic-add kernel on a GPU, two launches for each of the
    // ≈ 100 parameter tensors of a small Glow (a quarter of its training step's launches,
    // `benches/kernel-launches.sh`); the concatenation is one copy each.
    struct Flatten<'a> {
        grads: &'a GradientsParams,
        flat: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Flatten<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let n = g.shape().num_elements();
                self.flat.push(g.reshape([n]));
            }
        }
    }
    struct Scale {
        grads: GradientsParams,
        out: GradientsParams,
        scale: Tensor<1>,
    }
    impl ModuleVisitor for Scale {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                let s: Tensor<D> = self.scale.clone().reshape([1; D]);
                self.out.register::<D>(param.id, g * s);
            }
        }
    }
    let mut flatten = Flatten {
        grads: &grads,
        flat: Vec::new(),
    };
    model.visit(&mut flatten);
    if flatten.flat.is_empty() {
        return grads;
    }
    let scale = Tensor::cat(flatten.flat, 0)
        .powi_scalar(2)
        .sum()
        .sqrt()
        .clamp_min(max_norm)
        .recip()
        .mul_scalar(max_norm);
    let mut visitor = Scale {
        grads,
        out: GradientsParams::new(),
        scale,
    };
    model.visit(&mut visitor);
    visitor.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::tiny_realnvp;
    use crate::train::params::param_ids;

    fn grads_of(model: &Flow, values: &[Vec<f32>]) -> GradientsParams {
        // Gradients of the given values for the first parameters that have that many entries.
        struct Fill<'a> {
            values: std::slice::Iter<'a, Vec<f32>>,
            out: GradientsParams,
        }
        impl ModuleVisitor for Fill<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let shape = param.val().shape();
                if let Some(v) = self.values.as_slice().first()
                    && v.len() == shape.num_elements()
                {
                    let v = self.values.next().expect("peeked");
                    let t = Tensor::<1>::from_floats(v.as_slice(), &param.val().device())
                        .reshape(shape);
                    self.out.register::<D>(param.id, t);
                }
            }
        }
        let mut fill = Fill {
            values: values.iter(),
            out: GradientsParams::new(),
        };
        model.visit(&mut fill);
        assert_eq!(fill.values.len(), 0, "not every gradient found a parameter");
        fill.out
    }

    fn read(model: &Flow, g: &GradientsParams) -> Vec<f32> {
        struct Read<'a>(&'a GradientsParams, Vec<f32>);
        impl ModuleVisitor for Read<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some(t) = self.0.get::<D>(param.id) {
                    self.1
                        .extend(crate::readback::to_host::<f32, D>(t).unwrap());
                }
            }
        }
        let mut r = Read(g, Vec::new());
        model.visit(&mut r);
        r.1
    }

    #[test]
    fn the_global_norm_is_clipped_as_by_hand() {
        let device = crate::device::cpu();
        let model = tiny_realnvp(2, 2).init(&device);
        assert!(param_ids(&model).len() >= 2);
        // Two parameters of two entries each (ActNorm's shift and log-scale, for instance):
        // ‖g‖ = sqrt(3² + 4² + 0² + 12²) = 13.
        let values = vec![vec![3.0, 4.0], vec![0.0, 12.0]];
        let clipped = read(
            &model,
            &clip_global_norm(&model, grads_of(&model, &values), 6.5),
        );
        let expected = [1.5, 2.0, 0.0, 6.0];
        for (c, e) in clipped.iter().zip(expected) {
            assert!((c - e).abs() < 1e-5, "{clipped:?} vs {expected:?}");
        }
        assert_eq!(clipped.len(), 4);
        // Under the limit nothing changes (a per-parameter clip at 12.5 would not change
        // either; at 10 it would leave [3, 4] and shrink only [0, 12]).
        let kept = read(
            &model,
            &clip_global_norm(&model, grads_of(&model, &values), 13.5),
        );
        assert_eq!(kept, vec![3.0, 4.0, 0.0, 12.0]);
        let per_param_would_be = [3.0, 4.0, 0.0, 10.0];
        let global = read(
            &model,
            &clip_global_norm(&model, grads_of(&model, &values), 10.0),
        );
        assert!(
            (global[3] - 12.0 * 10.0 / 13.0).abs() < 1e-5 && global[3] != per_param_would_be[3],
            "{global:?}"
        );
        assert!((global[0] - 30.0 / 13.0).abs() < 1e-5, "{global:?}");
    }
}
