//! The one table-driven property test over every layer kind (dims 2 and 5, seeded).

use super::LayerConfig;
use super::actnorm::ActNormConfig;
use super::autoregressive::{ArTransform, AutoregressiveConfig, Direction};
use super::cnf::CnfConfig;
use super::coupling::{CouplingConfig, alternating_mask, random_mask};
use super::linear::{LuLinearConfig, NaiveLinearConfig};
use super::made::Made;
use super::permutation::PermutationConfig;
use super::planar::PlanarConfig;
use super::radial::RadialConfig;
use super::spline::SplineCouplingConfig;
use super::tanh::TanhBoxConfig;
use super::testing::{
    check_bijection, gaussian_batch, host, jacobians, perturb, seeded_autodiff_device,
};
use crate::rng::Rng;

/// Every layer kind, with the tolerance its arithmetic allows and whether it is autoregressive.
pub(super) fn table(d: usize) -> Vec<(LayerConfig, f32, bool)> {
    let mut rng = Rng::new(d as u64);
    vec![
        (LayerConfig::Planar(PlanarConfig::new(d)), 1e-4, false),
        (LayerConfig::Radial(RadialConfig::new(d)), 1e-4, false),
        (
            LayerConfig::Coupling(CouplingConfig::new(alternating_mask(d, 1)).with_hidden(16)),
            1e-4,
            false,
        ),
        (
            LayerConfig::Coupling(
                CouplingConfig::new(random_mask(d, &mut rng))
                    .with_hidden(16)
                    .with_additive(true),
            ),
            1e-4,
            false,
        ),
        (
            LayerConfig::Spline(
                SplineCouplingConfig::new(alternating_mask(d, 0))
                    .with_hidden(16)
                    .with_bins(5),
            ),
            2e-4,
            false,
        ),
        (
            LayerConfig::Autoregressive(
                AutoregressiveConfig::new(d, Direction::Maf).with_hidden(16),
            ),
            1e-4,
            true,
        ),
        (
            LayerConfig::Autoregressive(
                AutoregressiveConfig::new(d, Direction::Iaf).with_hidden(16),
            ),
            1e-4,
            true,
        ),
        (
            LayerConfig::NaiveLinear(NaiveLinearConfig::new(d)),
            1e-4,
            false,
        ),
        (LayerConfig::LuLinear(LuLinearConfig::new(d)), 1e-4, false),
        (
            LayerConfig::Permutation(PermutationConfig::reverse(d)),
            1e-6,
            false,
        ),
        (
            LayerConfig::Permutation(PermutationConfig::random(d, 3)),
            1e-6,
            false,
        ),
        (
            LayerConfig::Tanh(TanhBoxConfig::new(vec![-8.0; d], vec![9.0; d])),
            1e-4,
            false,
        ),
        (LayerConfig::ActNorm(ActNormConfig::new(d)), 1e-5, false),
        (
            LayerConfig::Autoregressive(
                AutoregressiveConfig::new(d, Direction::Maf)
                    .with_hidden(16)
                    .with_transform(Some(ArTransform::Spline {
                        bins: 6,
                        tail_bound: 4.0,
                    })),
            ),
            3e-4,
            true,
        ),
        // Last, so that its random draws leave the other layers' parameters as they were.
        (
            LayerConfig::Cnf(CnfConfig::new(d).with_hidden(16)),
            1e-3,
            false,
        ),
    ]
}

/// Runs `check(fused)` with the fused operations on, then with them off on this thread (the
/// path WebGPU and wgpu train through).
fn on_both_paths(check: impl Fn(bool)) {
    check(true);
    crate::fused::unfused_on_this_thread(|| check(false));
}

/// Every layer on both paths: fused where the CPU backend has a fused operation for it, and
/// with the fused operations off (the path WebGPU and wgpu train through).
#[test]
fn every_layer_is_invertible_with_exact_logdet() {
    let (_lock, device) = seeded_autodiff_device(7);
    on_both_paths(|fused| {
        for d in [2, 5] {
            for (config, tol, triangular) in table(d) {
                let name = format!("{} (dim {d}, fused {fused})", config.name());
                let layer = perturb(config.init(&device), 0.3);
                let x = gaussian_batch(16, d, 1.5, 11 + d as u64, &device);
                let report = check_bijection(&name, &layer, x, tol, triangular);
                eprintln!("{name}: {report:?}");
            }
        }
    });
}

#[test]
fn made_outputs_depend_only_on_earlier_inputs() {
    let (_lock, device) = seeded_autodiff_device(7);
    let d = 5;
    let made = perturb(Made::new(d, 0, 24, 2, 2, &device), 0.5);
    let x = host(gaussian_batch(4, d, 1.0, 5, &device));
    // Each output block (μ and log-scale) separately.
    for block in 0..2 {
        let jac = jacobians(
            &|t| made.forward(t).narrow(1, block * d, d),
            &x,
            4,
            d,
            &device,
        );
        let mut nonzero_below = 0;
        for m in &jac {
            for (i, row) in m.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    if j >= i {
                        assert_eq!(*v, 0.0, "output {i} depends on input {j}");
                    } else if *v != 0.0 {
                        nonzero_below += 1;
                    }
                }
            }
        }
        // The connectivity must not be trivially empty either.
        assert!(
            nonzero_below > 0,
            "MADE block {block} ignores all its inputs"
        );
    }
}

/// Every named architecture, at dims 2 and 5: sampling reports the same log-density that
/// `log_prob` computes, noise → data → noise is the identity, and every parameter gets a gradient.
#[test]
fn every_flow_kind_is_consistent_and_trainable() {
    use super::{FlowKind, FlowSpec};
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::Tensor;

    struct GradCheck<'a> {
        grads: &'a burn::optim::GradientsParams,
        missing: usize,
        total: usize,
    }
    impl ModuleVisitor for GradCheck<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.total += 1;
            let ok = self
                .grads
                .get::<D>(param.id)
                .map(|g| host(g).iter().any(|v| *v != 0.0))
                .unwrap_or(false);
            if !ok {
                self.missing += 1;
            }
        }
    }

    let (_lock, device) = seeded_autodiff_device(7);
    for d in [2, 5] {
        for kind in FlowKind::ALL {
            let spec = FlowSpec::new(kind, d).with_layers(3).with_hidden(16);
            let flow = perturb(spec.config().init(&device), 0.2);
            let mut rng = Rng::new(1);
            let (x, log_q) = flow.sample(32, &mut rng, &device);
            let lp = flow.log_prob(x.clone());
            let (a, b) = (host(log_q), host(lp));
            let err = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(
                err < 2e-3,
                "{kind} dim {d}: sample log q vs log_prob differ by {err}"
            );
            let (z, _) = flow.transform_to_noise(x.clone());
            let (x_back, _) = flow.inverse(z);
            let rec = host(x_back)
                .iter()
                .zip(host(x.clone()))
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(rec < 1e-3, "{kind} dim {d}: reconstruction error {rec}");

            let data = gaussian_batch(64, d, 1.0, 9, &device);
            let loss = flow.log_prob(data).mean().neg();
            let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &flow);
            let mut check = GradCheck {
                grads: &grads,
                missing: 0,
                total: 0,
            };
            flow.visit(&mut check);
            assert!(check.total > 0);
            assert_eq!(
                check.missing, 0,
                "{kind} dim {d}: {} of {} parameters get no gradient",
                check.missing, check.total
            );
        }
    }
}

/// The layer-by-layer view: one stage per layer plus the input, ending where the whole flow
/// ends, with log-dets summing to the flow's.
#[test]
fn stages_trace_the_flow_layer_by_layer() {
    use super::{FlowKind, FlowSpec};
    let (_lock, device) = seeded_autodiff_device(3);
    let flow = perturb(
        FlowSpec::new(FlowKind::Maf, 2)
            .with_layers(3)
            .with_hidden(8)
            .config()
            .init(&device),
        0.2,
    );
    let x = gaussian_batch(10, 2, 1.0, 4, &device);
    let stages = flow.forward_stages(x.clone());
    assert_eq!(stages.len(), flow.layers.len() + 1);
    assert_eq!(host(stages[0].z.clone()), host(x.clone()));
    let (z, ld) = flow.transform_to_noise(x);
    let last = stages.last().unwrap();
    assert_eq!(host(last.z.clone()), host(z.clone()));
    let total: Vec<f32> = host(ld);
    let summed = host(
        stages
            .iter()
            .map(|s| s.logdet.clone())
            .reduce(|a, b| a + b)
            .unwrap(),
    );
    for (a, b) in total.iter().zip(&summed) {
        assert!((a - b).abs() < 1e-5);
    }
    // And back: the inverse stages end at the data.
    let back = flow.inverse_stages(z);
    assert_eq!(back.len(), stages.len());
    let x_back = host(back.last().unwrap().z.clone());
    let x0 = host(stages[0].z.clone());
    assert!(x_back.iter().zip(&x0).all(|(a, b)| (a - b).abs() < 1e-4));
}

/// Every image layer on a tiny image `(2, 4, 4)`, once acting on the whole row (D = 32) and once
/// on the first 32 of 40 columns (as after a split prior, the rest passes through).
pub(super) fn image_table() -> Vec<(LayerConfig, f32)> {
    use super::actnorm2d::ActNorm2dConfig;
    use super::conv_exp::ConvExpConfig;
    use super::conv1x1::Conv1x1Config;
    use super::emerging::EmergingConvConfig;
    use super::glow_coupling::GlowCouplingConfig;
    use super::image::ImageShape;
    use super::leaky_relu::LeakyReluConfig;
    use super::selfnorm::{SelfNormConvConfig, SelfNormLinearConfig};
    use super::split_prior::SplitPriorConfig;
    use super::squeeze::SqueezeConfig;
    let s = ImageShape::new(2, 4, 4);
    vec![
        (LayerConfig::ActNorm2d(ActNorm2dConfig::new(s)), 1e-5),
        (LayerConfig::Conv1x1(Conv1x1Config::new(s)), 1e-4),
        (
            LayerConfig::Conv1x1(Conv1x1Config::new(s).with_lu(false)),
            1e-4,
        ),
        (
            LayerConfig::GlowCoupling(GlowCouplingConfig::new(s).with_hidden(8)),
            1e-4,
        ),
        (
            LayerConfig::Squeeze(SqueezeConfig::new(ImageShape::new(2, 4, 4))),
            1e-6,
        ),
        (LayerConfig::SplitPrior(SplitPriorConfig::new(s)), 1e-4),
        (
            LayerConfig::SelfNormLinear(SelfNormLinearConfig::new(24)),
            1e-4,
        ),
        (
            LayerConfig::SelfNormLinear(SelfNormLinearConfig::new(32).with_self_normalized(false)),
            1e-4,
        ),
        (LayerConfig::SelfNormConv(SelfNormConvConfig::new(s)), 1e-4),
        (
            LayerConfig::SelfNormConv(SelfNormConvConfig::new(s).with_self_normalized(false)),
            1e-4,
        ),
        (LayerConfig::EmergingConv(EmergingConvConfig::new(s)), 1e-4),
        (LayerConfig::ConvExp(ConvExpConfig::new(s)), 1e-4),
        (LayerConfig::LeakyRelu(LeakyReluConfig::new(32)), 1e-5),
    ]
}

/// Every image layer on both paths (fused on the CPU backend, and Burn's own operations).
#[test]
fn every_image_layer_is_invertible_with_exact_logdet() {
    let (_lock, device) = seeded_autodiff_device(5);
    on_both_paths(|fused| {
        for d in [32, 40] {
            for (config, tol) in image_table() {
                if !config.acts_on_prefix() && config.dim() != d {
                    continue;
                }
                let name = format!("{} (rows of {d}, fused {fused})", config.name());
                let layer = perturb(config.init(&device), 0.1);
                let x = gaussian_batch(4, d, 1.0, 3 + d as u64, &device);
                let report = check_bijection(&name, &layer, x, tol, false);
                eprintln!("{name}: {report:?}");
            }
        }
    });
}

#[test]
fn logit_is_invertible_on_the_unit_cube() {
    use super::logit::LogitConfig;
    use burn::tensor::{Tensor, TensorData};
    let (_lock, device) = seeded_autodiff_device(5);
    let d = 6;
    let mut rng = Rng::new(2);
    let v: Vec<f32> = (0..4 * d)
        .map(|_| rng.uniform_in(0.02, 0.98) as f32)
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(v, [4, d]), &device);
    let layer = LayerConfig::Logit(LogitConfig::new(d).with_alpha(0.05)).init(&device);
    check_bijection("logit", &layer, x, 1e-4, false);
}

/// Squeeze moves pixel `(2y + i, 2x + j)` of channel `k` to channel `4k + 2i + j` at `(y, x)`,
/// and unsqueeze undoes it exactly.
#[test]
fn squeeze_places_each_pixel_and_round_trips() {
    use super::squeeze::{squeeze, unsqueeze};
    use burn::tensor::{Tensor, TensorData};
    let device = crate::device::cpu();
    let (c, h, w) = (2, 4, 6);
    let v: Vec<f32> = (0..c * h * w).map(|i| i as f32).collect();
    let x = Tensor::<4>::from_data(TensorData::new(v.clone(), [1, c, h, w]), &device);
    let z = host(squeeze(x.clone()));
    let (h2, w2) = (h / 2, w / 2);
    for k in 0..c {
        for y in 0..h2 {
            for xx in 0..w2 {
                for i in 0..2 {
                    for j in 0..2 {
                        let src = v[(k * h + 2 * y + i) * w + 2 * xx + j];
                        let dst = z[((4 * k + 2 * i + j) * h2 + y) * w2 + xx];
                        assert_eq!(src, dst);
                    }
                }
            }
        }
    }
    assert_eq!(host(unsqueeze(squeeze(x))), v);
}

/// With `R = W⁻¹` exactly, the self-normalized gradient of an FC layer is the exact gradient
/// of `log p`, and the reconstruction loss is 0; the training value leaves the log-det out.
#[test]
fn self_normalized_gradient_matches_the_exact_one_when_r_is_the_inverse() {
    use super::Layer;
    use super::dense::host_logabsdet_and_inverse;
    use super::selfnorm::SelfNormLinearConfig;
    use burn::module::Param;
    use burn::tensor::{Tensor, TensorData};
    let (_lock, device) = seeded_autodiff_device(9);
    let d = 6;
    let Layer::SelfNormLinear(mut layer) = perturb(
        LayerConfig::SelfNormLinear(SelfNormLinearConfig::new(d)).init(&device),
        0.3,
    ) else {
        unreachable!()
    };
    let w: Vec<f64> = host(layer.weight.val()).iter().map(|&v| v as f64).collect();
    let (_, inv) = host_logabsdet_and_inverse(&w, d).unwrap();
    let inv: Vec<f32> = inv.iter().map(|&v| v as f32).collect();
    layer.inverse_weight = Some(Param::from_tensor(
        Tensor::<2>::from_data(TensorData::new(inv, [d, d]), &device).require_grad(),
    ));
    let x = gaussian_batch(8, d, 1.0, 4, &device);
    let base = |z: Tensor<2>| z.square().sum_dim(1).reshape([8]).mul_scalar(-0.5);
    let (z, ld) = super::Bijection::forward(&layer, x.clone());
    let exact = (base(z) + ld).sum();
    let (z, ld_train, recon) = super::Bijection::forward_train(&layer, x);
    assert!(host(ld_train.clone()).iter().all(|v| v.abs() < 1e-6));
    let recon = recon.unwrap();
    assert!(host(recon.clone()).iter().all(|v| *v < 1e-8));
    let train = (base(z) + ld_train).sum();
    let g_exact = host(layer.weight.grad(&exact.backward()).unwrap());
    let g_train = host(layer.weight.grad(&train.backward()).unwrap());
    let err = g_exact
        .iter()
        .zip(&g_train)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        err < 1e-3,
        "self-normalized vs exact gradient differ by {err}"
    );
}

/// The conv layer's version: with a 1×1 kernel the inverse of `W` is again a 1×1 kernel, so
/// `R = W⁻¹` exactly; the self-normalized gradient (flipped, transposed `R` times tap counts)
/// then equals the exact gradient through the dense conv matrix, and the reconstruction loss —
/// plain and symmetric — vanishes.
#[test]
fn self_normalized_conv_gradient_matches_the_exact_one_when_r_is_the_inverse() {
    use super::Layer;
    use super::dense::host_logabsdet_and_inverse;
    use super::image::ImageShape;
    use super::selfnorm::SelfNormConvConfig;
    use burn::module::Param;
    use burn::tensor::{Tensor, TensorData};
    let (_lock, device) = seeded_autodiff_device(10);
    let (c, shape) = (3, ImageShape::new(3, 4, 4));
    let d = shape.dim();
    for symmetric in [false, true] {
        let config = SelfNormConvConfig::new(shape)
            .with_kernel(1)
            .with_symmetric(symmetric);
        let Layer::SelfNormConv(mut layer) =
            perturb(LayerConfig::SelfNormConv(config).init(&device), 0.3)
        else {
            unreachable!()
        };
        // weight[o, i, 0, 0] = W[o][i]; R[i, o, 0, 0] = (W⁻¹)[i][o] undoes it pixel by pixel.
        let w: Vec<f64> = host(layer.weight.val()).iter().map(|&v| v as f64).collect();
        let (_, inv) = host_logabsdet_and_inverse(&w, c).unwrap();
        let inv: Vec<f32> = inv.iter().map(|&v| v as f32).collect();
        layer.inverse_weight = Some(Param::from_tensor(
            Tensor::<4>::from_data(TensorData::new(inv, [c, c, 1, 1]), &device).require_grad(),
        ));
        let x = gaussian_batch(5, d, 1.0, 6, &device);
        let base = |z: Tensor<2>| z.square().sum_dim(1).reshape([5]).mul_scalar(-0.5);
        let (z, ld) = super::Bijection::forward(&layer, x.clone());
        let exact = (base(z) + ld).sum();
        let (z, ld_train, recon) = super::Bijection::forward_train(&layer, x);
        assert!(host(ld_train.clone()).iter().all(|v| v.abs() < 1e-5));
        let recon = recon.expect("a reconstruction term");
        assert!(
            host(recon).iter().all(|v| *v < 1e-8),
            "symmetric = {symmetric}: R = W⁻¹ reconstructs exactly"
        );
        let train = (base(z) + ld_train).sum();
        let g_exact = host(layer.weight.grad(&exact.backward()).unwrap());
        let g_train = host(layer.weight.grad(&train.backward()).unwrap());
        let err = g_exact
            .iter()
            .zip(&g_train)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let scale = g_exact.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(
            err < 1e-3 * scale.max(1.0),
            "symmetric = {symmetric}: self-normalized vs exact gradient differ by {err} (scale {scale})"
        );
    }
}

/// Each layer's `check` names the bad number (the limits live in [`super::validate`]).
mod checks {
    use crate::flows::LayerConfig;
    use crate::flows::image::ImageShape;
    use crate::flows::{conv_exp, glow_coupling, leaky_relu, permutation, spline, squeeze};

    fn err(layer: LayerConfig) -> String {
        layer.check().expect_err("refused")
    }

    #[test]
    fn each_bad_number_is_named() {
        let s = ImageShape::new(1, 28, 28);
        let e = err(LayerConfig::ConvExp(
            conv_exp::ConvExpConfig::new(s).with_kernel(4),
        ));
        assert!(e.contains("kernel must be odd, got 4"), "{e}");
        let e = err(LayerConfig::GlowCoupling(
            glow_coupling::GlowCouplingConfig::new(s).with_hidden(48),
        ));
        assert!(e.contains("coupling channels"), "{e}");
        let e = err(LayerConfig::Squeeze(squeeze::SqueezeConfig::new(
            ImageShape::new(1, 7, 7),
        )));
        assert!(e.contains("even sides, got 7×7"), "{e}");
        let e = err(LayerConfig::LeakyRelu(
            leaky_relu::LeakyReluConfig::new(4).with_slope(0.0),
        ));
        assert!(e.contains("slope"), "{e}");
        let e = err(LayerConfig::Permutation(permutation::PermutationConfig {
            indices: vec![0, 2, 2],
        }));
        assert!(e.contains("not a permutation"), "{e}");
        let e = err(LayerConfig::Squeeze(squeeze::SqueezeConfig::new(
            ImageShape::new(usize::MAX / 2, 4, 4),
        )));
        assert!(e.contains("channels"), "{e}");
        let e = err(LayerConfig::ActNorm2d(
            crate::flows::actnorm2d::ActNorm2dConfig::new(ImageShape::new(3, 1 << 19, 1 << 19)),
        ));
        assert!(e.contains("more than"), "{e}");
        let mut sp = spline::SplineCouplingConfig::new(vec![true, false]);
        sp.bins = 1;
        assert!(err(LayerConfig::Spline(sp)).contains("bins must be in 2..=256, got 1"));
    }
}
