//! What both trainers (2D and image) share: Adam with optional global-norm clipping, the linear warm-up
//! schedule, and turning a loaded flow into trainable autodiff leaves.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor};

use crate::flows::{Flow, Layer, LayerConfig};

/// A fresh Adam (Burn's rates and state; each parameter's update fused into one pass on the
/// CPU backend, `crate::fused::adam`). Clipping is done on the global gradient norm by
/// [`GuardedAdam`] (see [`super::clip`]), not per parameter.
pub fn adam() -> burn::optim::ModuleOptimizer {
    crate::fused::adam::FusedAdam::init()
}

/// The learning rate at `step` (0-based) with a linear warm-up over `warmup_steps`.
pub fn warmup_lr(lr: f64, warmup_steps: usize, step: usize) -> f64 {
    if warmup_steps == 0 {
        lr
    } else {
        lr * ((step + 1) as f64 / warmup_steps as f64).min(1.0)
    }
}

/// `flow` on the autodiff `device` with every parameter a fresh leaf of the graph: weights
/// loaded from a file come out of tensor ops, and their graph would be consumed by the first
/// backward pass. Parameters the architecture declares fixed (a tanh box that is not
/// learnable) stay fixed: trainability is read from the config, which every rebuild — an
/// imported file, the page's WebGPU→CPU fallback, `--resume` — carries along.
pub fn trainable_on(flow: Flow, device: &Device) -> Flow {
    struct Leaves;
    impl ModuleMapper for Leaves {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.detach().autodiff().require_grad())
        }
    }
    let mut flow = flow.to_device(device).map(&mut Leaves);
    for (layer, config) in flow.layers.iter_mut().zip(&flow.config.layers) {
        if let (Layer::Tanh(b), LayerConfig::Tanh(c)) = (layer, config)
            && !c.learnable
        {
            b.centre = b.centre.clone().set_require_grad(false);
            b.log_half_width = b.log_half_width.clone().set_require_grad(false);
        }
    }
    flow
}

/// Adam with the NaN/Inf guard both trainers use: it keeps the parameters from before the last
/// update, so a bad loss can roll the model back and restart Adam's moments; after
/// `max_consecutive_bad` bad losses in a row it gives up. Gradients are clipped to a global
/// norm of `clip_norm` when given.
pub struct GuardedAdam {
    optim: burn::optim::ModuleOptimizer,
    last_good: Flow,
    clip_norm: Option<f32>,
    max_consecutive_bad: usize,
    /// Bad losses in a row.
    pub consecutive_bad: usize,
}

impl GuardedAdam {
    /// Adam around `model`.
    pub fn new(clip_norm: Option<f32>, max_consecutive_bad: usize, model: &Flow) -> Self {
        Self {
            optim: adam(),
            last_good: model.clone(),
            clip_norm,
            max_consecutive_bad: max_consecutive_bad.max(1),
            consecutive_bad: 0,
        }
    }

    /// A non-finite loss: the model before the last update, Adam's moments reset; `Err` with the
    /// count of bad losses in a row once it reaches the limit (the caller stops training and
    /// keeps [`Self::last_good`]).
    pub fn roll_back(&mut self) -> Result<Flow, usize> {
        self.consecutive_bad += 1;
        self.optim = adam();
        if self.consecutive_bad >= self.max_consecutive_bad {
            return Err(self.consecutive_bad);
        }
        Ok(self.last_good.clone())
    }

    /// The parameters before the last update.
    pub fn last_good(&self) -> Flow {
        self.last_good.clone()
    }

    /// One Adam update of `model` from a finite `loss` at learning rate `lr`.
    pub fn update(&mut self, model: Flow, loss: Tensor<1>, lr: f64) -> Flow {
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
        self.update_with_grads(model, grads, lr)
    }

    /// One Adam update of `model` from gradients computed elsewhere (e.g. averaged over the
    /// replicas of data-parallel training) for a finite loss.
    pub fn update_with_grads(
        &mut self,
        model: Flow,
        grads: burn::optim::GradientsParams,
        lr: f64,
    ) -> Flow {
        self.consecutive_bad = 0;
        let grads = match self.clip_norm {
            Some(c) => super::clip::clip_global_norm(&model, grads, c),
            None => grads,
        };
        self.last_good = model.clone();
        self.optim.step(lr, model, grads)
    }

    /// Adam's state, keyed by the model's parameter ids.
    pub fn to_record(&self) -> burn::optim::OptimizerRecord {
        self.optim.to_record()
    }

    /// Restores a state saved by [`Self::to_record`].
    pub fn load_record(&mut self, record: burn::optim::OptimizerRecord) {
        self.optim = adam().load_record(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::tiny_realnvp;

    #[test]
    fn the_guard_gives_up_after_its_limit_of_bad_losses() {
        let device = crate::device::cpu();
        let model = tiny_realnvp(2, 4).init(&device);
        let mut guard = GuardedAdam::new(None, 3, &model);
        assert!(guard.roll_back().is_ok());
        assert!(guard.roll_back().is_ok());
        assert_eq!(guard.roll_back().err(), Some(3));
    }
}

/// The fused Adam (`crate::fused::adam`) against Burn's, on a flow: tested here, above both the
/// optimizer and the flows it trains.
#[cfg(test)]
mod fused_adam {
    use burn::optim::{GradientsParams, ModuleOptimizer};

    use super::trainable_on;
    use crate::flows::Flow;
    use crate::flows::testing::tiny_realnvp;
    use crate::fused::adam::FusedAdam;
    use crate::fused::kernels::testing::assert_close;
    use crate::testing::{gaussian_batch, perturb};
    use burn::optim::AdamConfig;

    /// Every parameter's values, in visiting order.
    fn params(flow: &Flow) -> Vec<f32> {
        crate::train::params::param_values(flow).expect("CPU values")
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
