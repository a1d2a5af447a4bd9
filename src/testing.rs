//! Test helpers below every layer of the crate (the fused operations use them as well as the
//! flows): a seeded autodiff device, seeded Gaussian batches, perturbed parameters, host values.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use crate::rng::Rng;

/// Serialises tests that draw from a device's random generator: the generator is shared by
/// every test thread, so without this lock the seeded parameters would depend on scheduling.
pub fn seeded_autodiff_device(seed: u64) -> (std::sync::MutexGuard<'static, ()>, Device) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = crate::device::cpu();
    device.seed(seed);
    (guard, device.autodiff())
}

/// Adds `N(0, scale²)` noise to every float parameter, so zero- or identity-initialised layers
/// are tested away from the identity.
pub fn perturb<M: Module>(module: M, scale: f64) -> M {
    struct Noise(f64);
    impl ModuleMapper for Noise {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let scale = self.0;
            param.map(|t| {
                let noise = t.random_like(Distribution::Normal(0.0, scale));
                (t + noise).detach().require_grad()
            })
        }
    }
    module.map(&mut Noise(scale))
}

/// Host values of a tensor.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    crate::readback::to_host(t).expect("f32 data")
}

/// A `[n, d]` tensor of seeded `N(0, std²)` values.
pub fn gaussian_batch(n: usize, d: usize, std: f32, seed: u64, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = Rng::new(seed)
        .normals_f32(n * d)
        .into_iter()
        .map(|x| x * std)
        .collect();
    Tensor::from_data(TensorData::new(v, [n, d]), device)
}
