//! Adam with each parameter's update as one pass on the CPU backend.
//!
//! Burn's `Adam` updates a parameter with about a dozen tensor operations (scale the moments,
//! square the gradient, add, take the root, divide, scale, subtract), each one pass and one fresh
//! buffer: on the bench model's 48 parameters that is ≈ 600 small operations a step, the
//! largest serial part of data-parallel training (`docs/performance.md`). [`FusedAdam`] does
//! the same update in one pass, in place on the moments (`flowplay_kernels::adam`), where the
//! tensors are `f32` on the CPU backend, and hands every other tensor
//! (WebGPU, CUDA, or with the fused operations switched off) to Burn's `Adam`.
//!
//! Its state *is* Burn's (`AdamState`), so an optimizer record saved by either loads into the
//! other: checkpoints and `--resume` are unaffected.

use burn::backend::flex::FlexTensor;
use burn::backend::{DispatchDevice, Flex};
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};

use super::kernels::adam::{self, AdamStep};
use super::{contiguous, fusable, values, values_mut};

/// Adam's rates: Burn's `AdamConfig::new()` defaults.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Adam with Burn's default rates ([`BETA_1`], [`BETA_2`], [`EPSILON`]).
#[derive(Clone)]
pub struct FusedAdam {
    /// Burn's Adam with the same rates, for tensors the fused step does not take.
    fallback: Adam,
}

impl Default for FusedAdam {
    fn default() -> Self {
        Self {
            fallback: AdamConfig::new()
                .with_beta_1(BETA_1)
                .with_beta_2(BETA_2)
                .with_epsilon(EPSILON)
                .build(),
        }
    }
}

impl FusedAdam {
    /// Wrapped to optimise a whole module (as `AdamConfig::init` does for Burn's Adam).
    pub fn init() -> burn::optim::ModuleOptimizer {
        burn::optim::ModuleOptimizer::from(Self::default())
    }
}

/// Whether the fused step takes `t`: `f32` on the CPU backend itself (an optimizer sees its
/// parameters without autodiff), the fused operations switched on.
fn takes<const D: usize>(t: &Tensor<D>) -> bool {
    fusable(t) && matches!(t.device().as_dispatch(), DispatchDevice::Flex(_))
}

/// The tensor's values as a CPU-backend buffer starting at its storage's first element.
fn cpu<const D: usize>(t: Tensor<D>) -> FlexTensor {
    contiguous(
        t.try_into_primitive::<Flex>()
            .expect("checked: a CPU-backend tensor"),
    )
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let fused = takes(&tensor)
            && takes(&grad)
            && state.as_ref().is_none_or(|s| {
                takes(&s.momentum.moment_1)
                    && takes(&s.momentum.moment_2)
                    && s.momentum.max_moment_2.is_none()
            });
        if !fused {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let shape = tensor.shape();
        let len = shape.num_elements();
        let zeros = || FlexTensor::from_data(TensorData::new(vec![0.0f32; len], shape.clone()));
        let (mut moment_1, mut moment_2, time) = match state {
            Some(AdamState { momentum }) => (
                cpu(momentum.moment_1),
                cpu(momentum.moment_2),
                momentum.time + 1,
            ),
            None => (zeros(), zeros(), 1),
        };
        let (mut param, grad) = (cpu(tensor), cpu(grad));
        adam::update(
            values_mut(&mut param),
            values(&grad),
            values_mut(&mut moment_1),
            values_mut(&mut moment_2),
            AdamStep {
                lr: lr as f32,
                beta_1: BETA_1,
                beta_2: BETA_2,
                epsilon: EPSILON,
                time: i32::try_from(time).unwrap_or(i32::MAX),
            },
        );
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_primitive::<Flex>(moment_1),
            Tensor::from_primitive::<Flex>(moment_2),
        );
        (
            Tensor::from_primitive::<Flex>(param),
            Some(AdamState::new(momentum)),
        )
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::{GradientsParams, ModuleOptimizer};

    use super::*;
    use crate::flows::Flow;
    use crate::flows::testing::{gaussian_batch, host, perturb, tiny_realnvp};
    use crate::fused::kernels::testing::assert_close;
    use crate::train::optim::trainable_on;

    /// Every parameter's values, in visiting order.
    fn params(flow: &Flow) -> Vec<f32> {
        struct All(Vec<f32>);
        impl ModuleVisitor for All {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                self.0.extend(host(p.val()));
            }
        }
        let mut all = All(Vec::new());
        flow.visit(&mut all);
        all.0
    }

    /// `steps` maximum-likelihood steps on fixed batches (the same for every optimizer).
    fn train(optim: &mut ModuleOptimizer, mut model: Flow, first: u64, steps: u64) -> Flow {
        let device = crate::device::cpu().autodiff();
        for seed in first..first + steps {
            let x = gaussian_batch(64, 2, 1.5, seed, &device);
            let loss = model.log_prob(x).mean().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.01, model, grads);
        }
        model
    }

    /// The fused optimizer follows Burn's Adam step for step, and each one continues from the
    /// other's saved state as from its own (so checkpoints and `--resume` need no migration).
    #[test]
    fn follows_burns_adam_and_continues_from_its_records() {
        let cpu = crate::device::cpu();
        let model = perturb(
            trainable_on(tiny_realnvp(2, 16).init(&cpu), &cpu.autodiff()),
            0.1,
        );
        let (mut burns, mut fused) = (AdamConfig::new().init(), FusedAdam::init());
        let by_burn = train(&mut burns, model.clone(), 0, 6);
        let by_fused = train(&mut fused, model.clone(), 0, 6);
        let moved = params(&by_burn)
            .iter()
            .zip(params(&model))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(moved > 1e-3, "the parameters hardly moved ({moved})");
        assert_close(
            &params(&by_fused),
            &params(&by_burn),
            "parameters after 6 steps",
        );

        let mut fused_from_burn = FusedAdam::init().load_record(burns.to_record());
        let mut burn_from_fused = AdamConfig::new().init().load_record(fused.to_record());
        let want = params(&train(&mut burns, by_burn.clone(), 6, 4));
        let got = params(&train(&mut fused_from_burn, by_burn, 6, 4));
        assert_close(&got, &want, "fused Adam resumed from Burn's record");
        let got = params(&train(&mut burn_from_fused, by_fused, 6, 4));
        assert_close(&got, &want, "Burn's Adam resumed from the fused record");
    }

    /// Parameters and moments that something else still holds (the guard keeps the parameters
    /// from before the update, a saved record the moments) are copied, never overwritten.
    #[test]
    fn leaves_shared_parameters_and_moments_alone() {
        let cpu = crate::device::cpu();
        let model = trainable_on(tiny_realnvp(2, 8).init(&cpu), &cpu.autodiff());
        let mut optim = FusedAdam::init();
        let once = train(&mut optim, model, 0, 1);
        let (before, record) = (params(&once), optim.to_record());
        let twice = train(&mut optim, once.clone(), 1, 1);
        assert_eq!(
            params(&once),
            before,
            "the parameters kept for a rollback changed"
        );
        let mut resumed = FusedAdam::init().load_record(record);
        let again = train(&mut resumed, once, 1, 1);
        assert_eq!(params(&again), params(&twice), "the saved moments changed");
    }
}
