//! The table-driven property test over every conditional layer and base: with a context held
//! fixed each layer is an exact bijection (inverse, log-det against the autodiff Jacobian), the
//! context changes the map, and the gradient with respect to the context is the one finite
//! differences give.

use burn::tensor::{Device, Tensor, TensorData};

use super::autoregressive::{ArTransform, AutoregressiveConfig, Direction};
use super::base::{ClassConditionalConfig, ConditionalGaussianConfig};
use super::coupling::{CouplingConfig, alternating_mask};
use super::spline::SplineCouplingConfig;
use super::testing::{check_bijection, gaussian_batch, host, perturb, seeded_autodiff_device};
use super::{BaseConfig, Bijection, Flow, FlowConfig, Layer, LayerConfig, sum_rows};
use crate::rng::Rng;

/// A conditional layer with its context held fixed, so the unconditional checks apply.
struct Given<'a> {
    layer: &'a Layer,
    context: Tensor<2>,
}

impl Bijection for Given<'_> {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.layer.forward_given(x, Some(&self.context))
    }
    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.layer.inverse_given(z, Some(&self.context))
    }
}

const SPLINE: ArTransform = ArTransform::Spline {
    bins: 5,
    tail_bound: 3.0,
};

/// Every conditional layer kind reading a context of size `c`, with its tolerance and whether
/// it is autoregressive.
fn table(d: usize, c: usize) -> Vec<(LayerConfig, f32, bool)> {
    let ar = |direction, transform| {
        AutoregressiveConfig::new(d, direction)
            .with_hidden(16)
            .with_transform(Some(transform))
            .with_context(Some(c))
    };
    vec![
        (
            LayerConfig::Coupling(
                CouplingConfig::new(alternating_mask(d, 1))
                    .with_hidden(16)
                    .with_context(Some(c)),
            ),
            1e-4,
            false,
        ),
        (
            LayerConfig::Coupling(
                CouplingConfig::new(alternating_mask(d, 0))
                    .with_hidden(16)
                    .with_additive(true)
                    .with_context(Some(c)),
            ),
            1e-4,
            false,
        ),
        (
            LayerConfig::Spline(
                SplineCouplingConfig::new(alternating_mask(d, 0))
                    .with_hidden(16)
                    .with_bins(5)
                    .with_context(Some(c)),
            ),
            2e-4,
            false,
        ),
        (
            LayerConfig::Autoregressive(ar(Direction::Maf, ArTransform::Affine)),
            1e-4,
            true,
        ),
        (
            LayerConfig::Autoregressive(ar(Direction::Iaf, ArTransform::Affine)),
            1e-4,
            true,
        ),
        (
            LayerConfig::Autoregressive(ar(Direction::Maf, SPLINE)),
            3e-4,
            true,
        ),
        (
            LayerConfig::Autoregressive(ar(Direction::Iaf, SPLINE)),
            3e-4,
            true,
        ),
    ]
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `Σ_batch (Σ_j z_j² / 2 − log|det|)`: a scalar that depends on every output and the log-det.
fn score(layer: &Layer, x: Tensor<2>, context: Tensor<2>) -> Tensor<1> {
    let (z, ld) = layer.forward_given(x, Some(&context));
    (sum_rows(z.square().mul_scalar(0.5)) - ld).sum()
}

/// The autodiff gradient of [`score`] with respect to the context, and central differences of
/// it in `f64`-accumulated host arithmetic at step `h`.
fn context_gradients(
    layer: &Layer,
    x: &Tensor<2>,
    c: &[f32],
    shape: [usize; 2],
    device: &Device,
) -> (Vec<f32>, Vec<f64>) {
    let ct = Tensor::<2>::from_data(TensorData::new(c.to_vec(), shape), device).require_grad();
    let grads = score(layer, x.clone(), ct.clone()).backward();
    let autodiff = host(ct.grad(&grads).expect("the context gets a gradient"));
    let h = 1e-3f32;
    let at = |values: Vec<f32>| -> f64 {
        let t = Tensor::<2>::from_data(TensorData::new(values, shape), device);
        host(score(layer, x.clone(), t))[0] as f64
    };
    let numeric = (0..c.len())
        .map(|i| {
            let mut up = c.to_vec();
            let mut down = c.to_vec();
            up[i] += h;
            down[i] -= h;
            (at(up) - at(down)) / (2.0 * h as f64)
        })
        .collect();
    (autodiff, numeric)
}

#[test]
fn every_conditional_layer_is_an_exact_bijection_for_each_context() {
    let (_lock, device) = seeded_autodiff_device(17);
    for (d, c) in [(2, 1), (5, 3)] {
        for (config, tol, triangular) in table(d, c) {
            let name = format!("conditional {} (dim {d}, context {c})", config.name());
            assert_eq!(config.context(), c, "{name}");
            let layer = perturb(config.init(&device), 0.3);
            let x = gaussian_batch(8, d, 1.5, 3 + d as u64, &device);
            let c1 = gaussian_batch(8, c, 1.0, 40 + d as u64, &device);
            let c2 = gaussian_batch(8, c, 1.0, 50 + d as u64, &device);
            let given = Given {
                layer: &layer,
                context: c1.clone(),
            };
            let report = check_bijection(&name, &given, x.clone(), tol, triangular);
            eprintln!("{name}: {report:?}");

            let z1 = host(layer.forward_given(x.clone(), Some(&c1)).0);
            let z2 = host(layer.forward_given(x.clone(), Some(&c2)).0);
            assert!(
                max_abs_diff(&z1, &z2) > 1e-3,
                "{name}: the context does not change the map"
            );
        }
    }
}

#[test]
fn the_gradient_to_the_context_matches_finite_differences() {
    let (_lock, device) = seeded_autodiff_device(19);
    let (d, c, n) = (3, 2, 4);
    for (config, _, _) in table(d, c) {
        let name = format!("conditional {}", config.name());
        let layer = perturb(config.init(&device), 0.3);
        let x = gaussian_batch(n, d, 1.0, 9, &device);
        let context = Rng::new(21).normals_f32(n * c);
        let (autodiff, numeric) = context_gradients(&layer, &x, &context, [n, c], &device);
        let scale = numeric.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in autodiff.iter().zip(&numeric).enumerate() {
            assert!(
                (*a as f64 - b).abs() < 2e-2 * scale,
                "{name}: ∂score/∂c[{i}] autodiff {a} vs finite differences {b}"
            );
        }
        assert!(
            autodiff.iter().any(|g| g.abs() > 1e-4),
            "{name}: no gradient reaches the context"
        );
    }
}

/// A small conditional flow of every conditional layer kind over `base`.
fn conditional_flow(d: usize, base: BaseConfig) -> FlowConfig {
    let c = base.context();
    let mut layers: Vec<LayerConfig> = table(d, c).into_iter().map(|(l, _, _)| l).collect();
    layers.retain(|l| l.name() != "additive coupling");
    FlowConfig {
        layers,
        base,
        embedding: None,
        head: None,
    }
}

#[test]
fn conditional_bases_are_the_gaussians_they_name() {
    let (_lock, device) = seeded_autodiff_device(23);
    let d = 3;
    // Class-conditional: row y of the table is class y's [μ | log σ²].
    let base = BaseConfig::ClassConditional(ClassConditionalConfig::new(d, 4)).init(&device);
    let base = perturb(base, 0.5);
    let super::Base::ClassConditional(b) = &base else {
        unreachable!("built as class-conditional")
    };
    let table = host(b.table.val());
    let z = Rng::new(3).normals_f32(2 * d);
    let one_hot = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
    let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [2, d]), &device);
    let ct = Tensor::<2>::from_data(TensorData::new(one_hot.to_vec(), [2, 4]), &device);
    let lp = host(base.log_prob_given(zt, Some(&ct)));
    for (row, class) in [(0, 2), (1, 1)] {
        let mut expected = 0.0f64;
        for j in 0..d {
            let mu = table[class * 2 * d + j] as f64;
            let log_var = table[class * 2 * d + d + j] as f64;
            let dz = z[row * d + j] as f64 - mu;
            expected +=
                -0.5 * (dz * dz / log_var.exp() + log_var + (2.0 * std::f64::consts::PI).ln());
        }
        assert!(
            (lp[row] as f64 - expected).abs() < 1e-4,
            "class {class}: log p {} vs {expected}",
            lp[row]
        );
    }
}

#[test]
fn conditional_flows_sample_what_they_score() {
    let (_lock, device) = seeded_autodiff_device(29);
    let d = 3;
    for base in [
        BaseConfig::ClassConditional(ClassConditionalConfig::new(d, 3)),
        BaseConfig::ConditionalGaussian(ConditionalGaussianConfig::new(d, 3).with_hidden(8)),
    ] {
        let config = conditional_flow(d, base);
        config.validate().expect("a consistent conditional flow");
        assert_eq!(config.context(), 3);
        let flow: Flow = perturb(config.init(&device), 0.2);
        let mut rng = Rng::new(5);
        let context = [0.0, 1.0, 0.0];
        let (x, log_q) = flow.sample_given(6, &context, &mut rng, &device);
        let c = Tensor::<2>::from_data(TensorData::new(context.to_vec(), [1, 3]), &device)
            .repeat_dim(0, 6);
        let scored = host(flow.log_prob_given(x.clone(), Some(&c)));
        let err = max_abs_diff(&scored, &host(log_q));
        assert!(err < 2e-3, "log q of samples vs log_prob_given: {err}");
        let other = Tensor::<2>::from_data(TensorData::new(vec![1.0, 0.0, 0.0], [1, 3]), &device)
            .repeat_dim(0, 6);
        let elsewhere = host(flow.log_prob_given(x, Some(&other)));
        assert!(
            max_abs_diff(&scored, &elsewhere) > 1e-3,
            "the density does not depend on the context"
        );
    }
}

#[test]
fn layers_that_disagree_on_the_context_size_are_refused() {
    let d = 2;
    let mut config = conditional_flow(
        d,
        BaseConfig::ClassConditional(ClassConditionalConfig::new(d, 3)),
    );
    config.layers.push(LayerConfig::Coupling(
        CouplingConfig::new(alternating_mask(d, 0)).with_context(Some(2)),
    ));
    let err = config.validate().expect_err("context sizes 3 and 2");
    assert!(err.to_string().contains("context of size 2"), "{err}");
}

/// Files written before conditioning existed hold layer configs without the new fields; they
/// read as unconditional, affine layers.
#[test]
fn configs_without_the_conditioning_fields_still_load() {
    let old = [
        r#"{"type":"coupling","mask":[true,false],"hidden":8,"hidden_layers":1,"additive":false,"scale_clamp":3.0}"#,
        r#"{"type":"spline","mask":[true,false],"hidden":8,"hidden_layers":1,"bins":4,"tail_bound":4.0}"#,
        r#"{"type":"autoregressive","dim":2,"direction":"maf","hidden":8,"hidden_layers":1,"scale_clamp":3.0}"#,
        r#"{"type":"split_prior","shape":{"channels":4,"height":2,"width":2}}"#,
    ];
    for json in old {
        let layer: LayerConfig =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(layer.context(), 0, "{json}");
        layer.check().unwrap_or_else(|e| panic!("{json}: {e}"));
    }
}

/// A shared context embedding: the raw context (3 numbers) goes through an MLP to the 4 numbers
/// every conditional layer and the base read; the flow still samples what it scores, the
/// density depends on the raw context, and the embedding gets gradients.
#[test]
fn a_context_embedding_feeds_every_layer() {
    use super::composite::EmbeddingConfig;
    let (_lock, device) = seeded_autodiff_device(31);
    let d = 3;
    let mut config = conditional_flow(
        d,
        BaseConfig::ConditionalGaussian(ConditionalGaussianConfig::new(d, 4).with_hidden(8)),
    );
    config.embedding = Some(EmbeddingConfig {
        input: 3,
        hidden: 8,
        output: 4,
    });
    config
        .validate()
        .expect("an embedding that fits the layers");
    assert_eq!(config.context(), 3);
    let flow: Flow = perturb(config.init(&device), 0.2);
    let mut rng = Rng::new(6);
    let context = [0.5, -1.0, 2.0];
    let (x, log_q) = flow.sample_given(5, &context, &mut rng, &device);
    let c =
        Tensor::<2>::from_data(TensorData::new(context.to_vec(), [1, 3]), &device).repeat_dim(0, 5);
    let scored = flow.log_prob_given(x.clone(), Some(&c));
    let err = max_abs_diff(&host(scored.clone()), &host(log_q));
    assert!(err < 2e-3, "log q of samples vs log_prob_given: {err}");
    let grads = scored.sum().backward();
    let net = flow.embedding.as_ref().expect("built");
    let g = net.layers[0]
        .weight
        .grad(&grads)
        .map(host)
        .expect("the embedding gets a gradient");
    assert!(
        g.iter().any(|v| v.abs() > 1e-6),
        "zero gradient in the embedding"
    );

    let mut bad = config.clone();
    bad.embedding = Some(EmbeddingConfig {
        input: 3,
        hidden: 8,
        output: 5,
    });
    let e = bad.validate().expect_err("output 5 vs layers reading 4");
    assert!(e.to_string().contains("embedding"), "{e}");
}
