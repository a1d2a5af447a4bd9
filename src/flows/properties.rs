//! The one table-driven property test over every layer kind (dims 2 and 5, seeded).

use super::LayerConfig;
use super::actnorm::ActNormConfig;
use super::autoregressive::{AutoregressiveConfig, Direction};
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
fn table(d: usize) -> Vec<(LayerConfig, f32, bool)> {
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
    ]
}

#[test]
fn every_layer_is_invertible_with_exact_logdet() {
    let (_lock, device) = seeded_autodiff_device(7);
    for d in [2, 5] {
        for (config, tol, triangular) in table(d) {
            let name = format!("{} (dim {d})", config.name());
            let layer = perturb(config.init(&device), 0.3);
            let x = gaussian_batch(16, d, 1.5, 11 + d as u64, &device);
            let report = check_bijection(&name, &layer, x, tol, triangular);
            eprintln!("{name}: {report:?}");
        }
    }
}

#[test]
fn made_outputs_depend_only_on_earlier_inputs() {
    let (_lock, device) = seeded_autodiff_device(7);
    let d = 5;
    let made = perturb(Made::new(d, 24, 2, 2, &device), 0.5);
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
