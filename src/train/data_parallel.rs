//! Data-parallel training across devices: each step's batch is split into equal row blocks, one
//! per device; each replica of the model computes the gradient of its block's mean loss (all
//! replicas at once, one kept thread each (`super::workers`), the primary's on the calling
//! thread); the gradients are averaged on the primary device, one optimizer state there updates
//! the parameters, and the new parameters are copied back to the replicas.
//!
//! With equal blocks, the average of the block-mean gradients *is* the gradient of the whole
//! batch's mean loss, `∇(1/N Σᵢ ℓᵢ) = 1/K Σₖ ∇(1/B Σ_{i∈k} ℓᵢ)` for `N = K·B`, so K devices on a
//! batch of N follow the same trajectory as one device on N (up to float summation order); the
//! test below checks it on parameters after several Adam steps.
//!
//! Transport: Burn's own cross-device copies (`Tensor::to_device`, `Module::fork`). Burn 0.22 also
//! has collective all-reduce (`burn::tensor::distributed`, parameters marked `set_distributed` and
//! reduced during `backward`), but its only implementation is CUDA's (cubecl's default
//! `ComputeServer::all_reduce` returns `NoDeviceTransport` on wgpu, and flex is not a
//! collective-capable backend), and CUDA cannot be built offline. Gathering on the primary is
//! what a parameter server does: it costs `2·(K−1)·P` floats of transfer per step against a ring
//! all-reduce's `2·(K−1)/K·P` per device (docs/data-parallel.md has the numbers).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

use super::TrainError;
use super::workers::Workers;
use crate::flows::Flow;

/// The replicas of a model on its devices (the first device is the primary's).
pub struct Replicas {
    /// Autodiff devices, primary first.
    devices: Vec<Device>,
    /// Forks of the primary model on `devices[1..]`.
    models: Vec<Flow>,
    /// One kept thread per fork (the primary runs on the caller's).
    workers: Workers,
}

/// What one replica's loss function returns: the loss to differentiate and any number of
/// scalars to report (averaged over the replicas).
pub struct ShardLoss {
    pub loss: Tensor<1>,
    pub reported: Vec<Tensor<1>>,
}

/// The result of [`Replicas::gradients`].
pub struct ParallelGradients {
    /// The averaged gradients, on the primary device.
    pub grads: GradientsParams,
    /// The mean over replicas of each replica's loss value.
    pub loss: f64,
    /// The mean over replicas of each reported scalar.
    pub reported: Vec<f64>,
}

impl Replicas {
    /// Replicas of `primary` (already on the autodiff version of `devices[0]`) on every device.
    pub fn new(primary: &Flow, devices: &[Device]) -> Result<Self, TrainError> {
        if devices.is_empty() {
            return Err(TrainError::Setup(
                "data parallel training needs at least one device".into(),
            ));
        }
        let devices: Vec<Device> = devices.iter().map(|d| d.clone().autodiff()).collect();
        let models = devices[1..]
            .iter()
            .map(|d| primary.clone().fork(d))
            .collect();
        let workers = Workers::new(devices.len() - 1)
            .map_err(|e| TrainError::Setup(format!("cannot start a thread for a replica: {e}")))?;
        Ok(Self {
            devices,
            models,
            workers,
        })
    }

    /// Number of devices (the primary included).
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Always false: there is at least the primary.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Copies the primary's (updated) parameters onto every replica.
    pub fn broadcast(&mut self, primary: &Flow) {
        for (model, device) in self.models.iter_mut().zip(&self.devices[1..]) {
            *model = primary.clone().fork(device);
        }
    }

    /// The gradient of the mean loss over the rows of `x` (`[N, D]`, on the primary device,
    /// `N` divisible by [`Self::len`]): block `k` of `N/K` rows goes to device `k`, `loss` runs
    /// there, and the gradients come back averaged.
    pub fn gradients<F>(
        &self,
        primary: &Flow,
        x: Tensor<2>,
        loss: F,
    ) -> Result<ParallelGradients, TrainError>
    where
        F: Fn(&Flow, Tensor<2>) -> ShardLoss + Sync,
    {
        let k = self.len();
        let [n, d] = x.dims();
        if !n.is_multiple_of(k) || n == 0 {
            return Err(TrainError::Setup(format!(
                "a batch of {n} cannot be split evenly over {k} devices: use a multiple of {k}"
            )));
        }
        let block = n / k;
        let shards: Vec<Tensor<2>> = (0..k)
            .map(|i| {
                x.clone()
                    .slice([i * block..(i + 1) * block, 0..d])
                    .detach()
                    .to_device(&self.devices[i])
            })
            .collect();
        let models: Vec<&Flow> = std::iter::once(primary).chain(self.models.iter()).collect();
        let loss = &loss;
        let run = |model: &Flow, shard: Tensor<2>| {
            let ShardLoss { loss: l, reported } = loss(model, shard);
            let value = l.clone().into_scalar::<f32>() as f64;
            let reported = reported
                .into_iter()
                .map(|r| r.into_scalar::<f32>() as f64)
                .collect();
            let grads = GradientsParams::from_grads(l.backward(), model);
            (grads, value, reported)
        };
        // The primary's block runs on the calling thread, the others on a kept thread each.
        let mut work = models.into_iter().zip(shards);
        let (primary_model, primary_shard) = work.next().expect("the primary");
        let jobs: Vec<Box<dyn FnOnce() -> _ + Send + '_>> = work
            .map(|(model, shard)| {
                Box::new(move || run(model, shard)) as Box<dyn FnOnce() -> _ + Send>
            })
            .collect();
        let (first, others) = self.workers.run(jobs, || run(primary_model, primary_shard));
        let results: Vec<(GradientsParams, f64, Vec<f64>)> =
            std::iter::once(first).chain(others).collect();
        let loss = results.iter().map(|r| r.1).sum::<f64>() / k as f64;
        let n_reported = results.first().map_or(0, |r| r.2.len());
        let reported = (0..n_reported)
            .map(|j| results.iter().map(|r| r.2[j]).sum::<f64>() / k as f64)
            .collect();
        let grads = average_on(
            primary,
            results.into_iter().map(|r| r.0).collect(),
            &self.devices[0],
        );
        Ok(ParallelGradients {
            grads,
            loss,
            reported,
        })
    }
}

/// How a step's update gets its gradients (both trainers).
pub enum Update {
    /// Backpropagate this loss (one device, one thread).
    Loss(Box<Tensor<1>>),
    /// Already averaged over the replicas.
    Grads(GradientsParams),
}

/// The mean of `parts` (one gradient set per replica), parameter by parameter, on `device`.
pub fn average_on(model: &Flow, parts: Vec<GradientsParams>, device: &Device) -> GradientsParams {
    struct Average<'a> {
        parts: Vec<GradientsParams>,
        out: GradientsParams,
        device: &'a Device,
    }
    impl ModuleVisitor for Average<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let k = self.parts.len() as f32;
            let mut sum: Option<Tensor<D>> = None;
            for part in &mut self.parts {
                if let Some(g) = part.remove::<D>(param.id) {
                    let g = g.to_device(self.device);
                    sum = Some(match sum {
                        Some(s) => s + g,
                        None => g,
                    });
                }
            }
            if let Some(s) = sum {
                self.out.register::<D>(param.id, s.div_scalar(k));
            }
        }
    }
    let mut visitor = Average {
        parts,
        out: GradientsParams::new(),
        device: &device.clone().inner(),
    };
    model.visit(&mut visitor);
    visitor.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::tiny_realnvp;
    use crate::train::optim::{GuardedAdam, trainable_on};

    fn loss_of(model: &Flow, x: Tensor<2>) -> ShardLoss {
        let lp = model.log_prob(x);
        ShardLoss {
            loss: lp.clone().mean().neg(),
            reported: vec![lp.mean()],
        }
    }

    fn params(flow: &Flow) -> Vec<f32> {
        crate::train::params::param_values(flow).expect("CPU values")
    }

    /// K replicas on batches of N give the parameters one device gets on the same batches of N
    /// (the CPU backend has one device, so the replicas share it; each still runs its own graph
    /// on its own thread, and the gradients go through the same averaging).
    #[test]
    fn k_replicas_follow_one_device_on_the_k_times_batch() {
        let cpu = crate::device::cpu();
        let ad = cpu.clone().autodiff();
        ad.seed(3);
        let config = tiny_realnvp(4, 16);
        let init = config.init(&ad);
        let batches: Vec<Tensor<2>> = (0..4)
            .map(|s| {
                ad.seed(100 + s);
                Tensor::<2>::random([24, 2], burn::tensor::Distribution::Normal(0.5, 1.5), &ad)
            })
            .collect();
        let run = |k: usize| -> (Vec<f32>, Vec<f64>) {
            let mut model = trainable_on(init.clone(), &ad);
            let mut optim = GuardedAdam::new(Some(5.0), 20, &model);
            let devices = vec![cpu.clone(); k];
            let mut replicas = Replicas::new(&model, &devices).expect("replicas");
            let mut losses = Vec::new();
            for x in &batches {
                let g = replicas
                    .gradients(&model, x.clone(), loss_of)
                    .expect("gradients");
                losses.push(g.loss);
                model = optim.update_with_grads(model, g.grads, 1e-2);
                replicas.broadcast(&model);
            }
            (params(&model.valid()), losses)
        };
        let (one, one_losses) = run(1);
        let initial = params(&init.valid());
        for k in [2, 3, 4] {
            let (many, many_losses) = run(k);
            assert_eq!(one.len(), many.len());
            let moved = one
                .iter()
                .zip(&initial)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(moved > 1e-3, "training moved the parameters by {moved}");
            let diff = one
                .iter()
                .zip(&many)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(diff < 1e-4, "{k} replicas differ from one device by {diff}");
            for (a, b) in one_losses.iter().zip(&many_losses) {
                assert!((a - b).abs() < 1e-4, "loss {a} vs {b} with {k} replicas");
            }
        }
    }

    /// Every parameter's gradient in `a` against `b` (both consumed): the largest difference
    /// and the largest magnitude.
    fn compare(model: &Flow, a: GradientsParams, b: GradientsParams) -> (f32, f32) {
        struct Compare(GradientsParams, GradientsParams, f32, f32);
        impl ModuleVisitor for Compare {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let (Some(a), Some(b)) =
                    (self.0.remove::<D>(param.id), self.1.remove::<D>(param.id))
                else {
                    panic!("a parameter has a gradient on one side only");
                };
                let a: Vec<f32> = crate::readback::to_host(a).expect("CPU values");
                let b: Vec<f32> = crate::readback::to_host(b).expect("CPU values");
                for (x, y) in a.iter().zip(&b) {
                    self.2 = self.2.max((x - y).abs());
                    self.3 = self.3.max(x.abs());
                }
            }
        }
        let mut c = Compare(a, b, 0.0, 0.0);
        model.visit(&mut c);
        (c.2, c.3)
    }

    /// The averaged gradients themselves, before any optimiser (Adam is invariant to their
    /// scale, so a sum in place of the mean would pass the test above): K replicas give each
    /// parameter the one-device gradient of the mean loss over the whole batch.
    #[test]
    fn the_replicas_gradient_is_the_whole_batchs_mean_gradient() {
        let cpu = crate::device::cpu();
        let ad = cpu.clone().autodiff();
        ad.seed(5);
        let model = trainable_on(tiny_realnvp(4, 16).init(&ad), &ad);
        ad.seed(9);
        let x = Tensor::<2>::random([24, 2], burn::tensor::Distribution::Normal(0.3, 1.2), &ad);
        for k in [2, 3, 4] {
            let whole =
                GradientsParams::from_grads(loss_of(&model, x.clone()).loss.backward(), &model);
            let replicas = Replicas::new(&model, &vec![cpu.clone(); k]).expect("replicas");
            let split = replicas
                .gradients(&model, x.clone(), loss_of)
                .expect("gradients")
                .grads;
            let (diff, largest) = compare(&model, whole, split);
            assert!(largest > 1e-2, "a gradient worth comparing: {largest}");
            assert!(
                diff < 1e-5 * largest.max(1.0),
                "{k} replicas: off by {diff} (largest {largest})"
            );
        }
    }

    #[test]
    fn an_uneven_batch_is_refused_with_its_sizes() {
        let cpu = crate::device::cpu();
        let ad = cpu.clone().autodiff();
        let model = tiny_realnvp(2, 8).init(&ad);
        let replicas = Replicas::new(&model, &[cpu.clone(), cpu.clone(), cpu]).expect("replicas");
        let x = Tensor::<2>::zeros([10, 2], &ad);
        let err = replicas
            .gradients(&model, x, loss_of)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("batch of 10") && err.contains("3 devices"),
            "{err}"
        );
    }
}
