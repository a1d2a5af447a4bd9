//! What both trainers (2D and image) share: Adam with optional global-norm clipping, the linear warm-up
//! schedule, and turning a loaded flow into trainable autodiff leaves.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor};

use super::TrainError;
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
pub fn with_param_ids(flow: Flow, ids: &[u64]) -> Result<Flow, TrainError> {
    let have = param_ids(&flow).len();
    if have != ids.len() {
        return Err(TrainError::Setup(format!(
            "the model has {have} parameters, the saved optimizer state {}",
            ids.len()
        )));
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

    /// A fixed support box (the energy targets') is not trained after a flow is rebuilt from a
    /// file and made trainable — the path of an import, the page's GPU→CPU fallback and
    /// `--resume` — while the couplings are.
    #[test]
    fn a_fixed_box_stays_fixed_through_a_rebuild_and_training() {
        use crate::flows::{FlowKind, FlowSpec};
        let cpu = crate::device::cpu();
        let ad = cpu.clone().autodiff();
        let config = FlowSpec::new(FlowKind::Realnvp, 2)
            .with_layers(2)
            .with_hidden(8)
            .with_support(vec![-4.0, -4.0], vec![4.0, 4.0])
            .config();
        let meta = crate::model_file::FlowMeta::new(config.clone());
        let bytes = crate::model_file::to_bytes(&config.init(&cpu), &meta).expect("saves");
        let (loaded, _) = crate::model_file::from_bytes(bytes, &cpu).expect("loads");
        let mut model = trainable_on(loaded, &ad);
        let fixed = |m: &Flow| match &m.layers[0] {
            Layer::Tanh(b) => (b.centre.val(), b.log_half_width.val()),
            other => panic!("first layer is {other:?}"),
        };
        let (c0, w0) = fixed(&model);
        assert!(!c0.is_require_grad() && !w0.is_require_grad());
        let probe = Tensor::<2>::from_floats([[0.5, -1.0], [2.0, 1.5]], &cpu);
        let before = model.valid().log_prob(probe.clone());
        let mut optim = GuardedAdam::new(None, 20, &model);
        for _ in 0..3 {
            let x = Tensor::<2>::random([64, 2], burn::tensor::Distribution::Normal(0.0, 2.0), &ad)
                .clamp(-3.5, 3.5);
            let loss = model.log_prob(x).mean().neg();
            model = optim.update(model, loss, 0.05);
        }
        let (c1, w1) = fixed(&model);
        assert!(!c1.is_require_grad() && !w1.is_require_grad());
        let same = |a: Tensor<2>, b: Tensor<2>| (a - b).abs().max().into_scalar::<f32>() == 0.0;
        assert!(same(c0, c1) && same(w0, w1), "the fixed box moved");
        let after = model.valid().log_prob(probe.clone());
        let change = (after - before).abs().max().into_scalar::<f32>();
        assert!(change > 1e-4, "the couplings did not train ({change})");
    }

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
