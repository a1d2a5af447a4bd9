//! What both trainers (2D and image) share: Adam with optional clipping, the linear warm-up
//! schedule, and turning a loaded flow into trainable autodiff leaves.

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::AdamConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::tensor::{Device, Tensor};

use crate::flows::Flow;

/// Adam, clipping each parameter's gradient norm to `clip_norm` when given (Burn's `Norm`
/// clipping is per parameter, not global).
pub fn adam(clip_norm: Option<f32>) -> AdamConfig {
    match clip_norm {
        Some(c) => AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(c))),
        None => AdamConfig::new(),
    }
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
/// backward pass.
pub fn trainable_on(flow: Flow, device: &Device) -> Flow {
    struct Leaves;
    impl ModuleMapper for Leaves {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.detach().autodiff().require_grad())
        }
    }
    flow.to_device(device).map(&mut Leaves)
}

/// The ids of `flow`'s parameters in visiting order (an optimizer record is keyed by them).
pub fn param_ids(flow: &Flow) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl burn::module::ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    flow.visit(&mut ids);
    ids.0
}

/// `flow` with its parameters' ids set, in visiting order, to `ids` (so a saved optimizer record
/// matches a model rebuilt from a file). Fails when the counts differ.
pub fn with_param_ids(flow: Flow, ids: &[u64]) -> Result<Flow, String> {
    let have = param_ids(&flow).len();
    if have != ids.len() {
        return Err(format!(
            "the model has {have} parameters, the saved optimizer state {}",
            ids.len()
        ));
    }
    struct SetIds<'a>(std::slice::Iter<'a, u64>);
    impl ModuleMapper for SetIds<'_> {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.id = burn::module::ParamId::from(*self.0.next().expect("counted"));
            param
        }
    }
    Ok(flow.map(&mut SetIds(ids.iter())))
}

/// Adam with the NaN/Inf guard both trainers use: it keeps the parameters from before the last
/// update, so a bad loss can roll the model back and restart Adam's moments.
pub struct GuardedAdam {
    adam: AdamConfig,
    optim: burn::optim::ModuleOptimizer,
    last_good: Flow,
    /// Bad losses in a row.
    pub consecutive_bad: usize,
}

impl GuardedAdam {
    /// Adam around `model` (see [`adam`] for `clip_norm`).
    pub fn new(clip_norm: Option<f32>, model: &Flow) -> Self {
        let adam = adam(clip_norm);
        Self {
            optim: adam.init(),
            adam,
            last_good: model.clone(),
            consecutive_bad: 0,
        }
    }

    /// A non-finite loss: the model before the last update, Adam's moments reset; returns how
    /// many bad losses came in a row.
    pub fn roll_back(&mut self) -> (Flow, usize) {
        self.consecutive_bad += 1;
        self.optim = self.adam.init();
        (self.last_good.clone(), self.consecutive_bad)
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
        self.last_good = model.clone();
        self.optim.step(lr, model, grads)
    }

    /// Adam's state, keyed by the model's parameter ids.
    pub fn to_record(&self) -> burn::optim::OptimizerRecord {
        self.optim.to_record()
    }

    /// Restores a state saved by [`Self::to_record`].
    pub fn load_record(&mut self, record: burn::optim::OptimizerRecord) {
        self.optim = self.adam.init().load_record(record);
    }
}
