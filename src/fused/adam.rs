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
