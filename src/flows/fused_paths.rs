//! The fused and the unfused path of every layer agree on the same parameters (the layer
//! tables of `properties.rs`): where the CPU backend runs a fused operation, the path WebGPU
//! and wgpu train through must give the same output, log-det and gradients.

use burn::tensor::Tensor;

use super::LayerConfig;
use super::properties::{image_table, table};
use super::testing::{gaussian_batch, host, perturb, seeded_autodiff_device};

/// The fused and the unfused path of every layer agree on the same parameters: output, log-det,
/// and the gradients of `Σ y·w + Σ log|det|` with respect to the input and every parameter.
#[test]
fn fused_and_unfused_layers_agree() {
    let (_lock, device) = seeded_autodiff_device(9);
    let mut cases: Vec<(LayerConfig, usize)> =
        table(5).into_iter().map(|(c, _, _)| (c, 5)).collect();
    cases.extend(
        image_table()
            .into_iter()
            .filter_map(|(c, _)| (c.acts_on_prefix() || c.dim() == 32).then_some((c, 32))),
    );
    for (config, d) in cases {
        let layer = perturb(config.init(&device), 0.2);
        let x = gaussian_batch(6, d, 1.0, 21 + d as u64, &device).require_grad();
        let w = gaussian_batch(6, d, 1.0, 22, &device);
        let run = || layer_and_gradients(&layer, x.clone(), w.clone());
        let fused = run();
        let unfused = crate::fused::unfused_on_this_thread(run);
        assert_eq!(fused.len(), unfused.len());
        for (i, (f, u)) in fused.iter().zip(&unfused).enumerate() {
            crate::fused::kernels::testing::assert_close(
                f,
                u,
                &format!("{} (rows of {d}), value {i}", config.name()),
            );
        }
    }
}

/// `[y, log|det|, ∂x, ∂θ for every parameter θ]` of `Σ y·w + Σ log|det|`.
fn layer_and_gradients(layer: &super::Layer, x: Tensor<2>, w: Tensor<2>) -> Vec<Vec<f32>> {
    use super::Bijection;
    struct Grads<'a>(&'a burn::tensor::Gradients, Vec<Vec<f32>>);
    impl burn::module::ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            if let Some(g) = p.val().grad(self.0) {
                self.1.push(host(g.flatten::<1>(0, D - 1)));
            }
        }
    }
    let (y, ld) = layer.forward(x.clone());
    let grads = ((y.clone() * w).sum() + ld.clone().sum()).backward();
    let mut out = vec![host(y), host(ld)];
    out.push(x.grad(&grads).map(host).unwrap_or_default());
    let mut visitor = Grads(&grads, Vec::new());
    burn::module::Module::visit(layer, &mut visitor);
    out.extend(visitor.1);
    out
}
