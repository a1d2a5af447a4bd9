//! Fused operations for Burn's CPU backend: a few tensor operations that the eager backend would
//! run one pass (and one fresh buffer) at a time, done as one operation with a hand-written
//! backward pass. They are Burn backend extensions (`#[backend_extension]`) implemented for the
//! `Flex` backend and for autodiff over it; their arithmetic lives in the `flowplay-kernels`
//! crate (`crates/kernels`), which is compiled at opt-level 3 so its loops vectorise.
//!
//! - [`linear`]: `act(x·W + b)`, each layer of a coupling's conditioner.
//! - [`affine`]: RealNVP's masked affine transform after the conditioner, with its log-det.
//! - [`coupling`]: a whole affine coupling (mask, three-layer conditioner, transform) as one
//!   operation.
//! - [`mlp`]: the conditioner network built from [`linear`] layers (the couplings' conditioners
//!   and the context networks of conditional bases).
//! - [`conv_net`]: Glow's convolutional coupling conditioner (3×3 → 1×1 → 3×3 convs) as one
//!   operation, channels-last on `gemm` over all pixels of the batch.
//! - [`step`]: the autodiff step of [`coupling`] and [`conv_net`] (one input, six weights).
//! - [`adam`]: Adam's update of each parameter (an optimizer, not an operation: its state is
//!   Burn's, so saved optimizer records do not change).
//!
//! Callers use the `Tensor`-level functions, which run fused where the tensors live on the CPU
//! backend in `f32` ([`fused_on`]) and fall back to the same computation in ordinary Burn
//! operations elsewhere (WebGPU, CUDA). `docs/performance.md` has the profile that motivated
//! them and the figures.

pub mod adam;
pub mod affine;
pub mod conv_net;
pub mod coupling;
pub mod linear;
pub mod mlp;
pub mod step;

pub use flowplay_kernels as kernels;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Device, Tensor};

/// A fused coupling's output `[y | log|det|]` (`[batch, d + 1]`) as `(y [batch, d],
/// log|det| [batch])`.
pub(crate) fn split_coupling_output(out: Tensor<2>, d: usize) -> (Tensor<2>, Tensor<1>) {
    let batch = out.dims()[0];
    let y = out.clone().narrow(1, 0, d);
    let log_det = out.narrow(1, d, 1).reshape([batch]);
    (y, log_det)
}

/// A 2-D tensor's dimensions.
pub(crate) fn dims2(t: &FlexTensor) -> [usize; 2] {
    let shape = t.layout().shape();
    assert_eq!(shape.num_dims(), 2, "fused operation: expected a matrix");
    [shape[0], shape[1]]
}

/// The tensor itself when its elements are one contiguous run from the start of its storage,
/// a contiguous copy otherwise (a transposed or sliced view).
pub(crate) fn contiguous(t: FlexTensor) -> FlexTensor {
    match t.layout().contiguous_offsets() {
        Some((0, _)) => t,
        _ => t.to_contiguous(),
    }
}

/// The elements of a tensor returned by [`contiguous`].
pub(crate) fn values(t: &FlexTensor) -> &[f32] {
    let len = t.layout().shape().num_elements();
    &t.storage::<f32>()[..len]
}

/// The elements of a tensor returned by [`contiguous`], writable: in place when this is the
/// storage's only reference, in a copy otherwise (copy on write).
pub(crate) fn values_mut(t: &mut FlexTensor) -> &mut [f32] {
    let len = t.layout().shape().num_elements();
    &mut t.storage_mut::<f32>()[..len]
}

/// Switched off by [`set_enabled`] (for comparisons: `flowplay bench --unfused`).
static DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns the fused operations on or off for the whole process: off, every caller runs its
/// generic path (Burn's own operations) on the CPU backend too. On by default.
pub fn set_enabled(on: bool) {
    DISABLED.store(!on, std::sync::atomic::Ordering::Relaxed);
}

std::thread_local! {
    /// Set by [`unfused_on_this_thread`] for the duration of its closure.
    static UNFUSED_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the fused operations off on this thread only: every layer takes the path
/// WebGPU and wgpu train through (Burn's own operations), while tests on other threads keep
/// theirs. The tests run the layer property table and the fused-vs-unfused comparison this way.
pub fn unfused_on_this_thread<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            UNFUSED_HERE.with(|u| u.set(self.0));
        }
    }
    let _restore = Restore(UNFUSED_HERE.with(|u| u.replace(true)));
    f()
}

/// Whether the fused operations run for tensors on `device` (Burn's CPU backend, with or without
/// autodiff).
pub fn fused_on(device: &Device) -> bool {
    if DISABLED.load(std::sync::atomic::Ordering::Relaxed) || UNFUSED_HERE.with(|u| u.get()) {
        return false;
    }
    match device.as_dispatch() {
        DispatchDevice::Flex(_) => true,
        DispatchDevice::Autodiff(inner) => matches!(**inner, DispatchDevice::Flex(_)),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// Whether `x` is a tensor the fused operations take (an `f32` tensor on the CPU backend).
pub fn fusable<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && fused_on(&x.device())
}
