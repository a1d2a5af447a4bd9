//! The one place that picks a Burn [`Device`]: the pure-Rust CPU backend (flex) everywhere,
//! wgpu (Vulkan/Metal natively, WebGPU in the page) and CUDA behind Cargo features.

use burn::tensor::Device;

/// The backends a user can name on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// Burn's flex backend: pure Rust, runs natively and in wasm.
    Cpu,
    /// Burn's wgpu backend (feature `wgpu`).
    Wgpu,
    /// Burn's CUDA backend (feature `cuda`).
    Cuda,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" | "flex" => Ok(Self::Cpu),
            "wgpu" | "vulkan" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(format!(
                "unknown device '{other}': expected one of cpu, wgpu, cuda"
            )),
        }
    }
}

/// The CPU device (flex). Cheap to call: flex devices are plain values.
pub fn cpu() -> Device {
    Device::flex()
}

/// Builds the inference device for `choice`, or says why it is not available in this build.
pub fn inference_device(choice: BackendChoice) -> Result<Device, String> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        #[cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]
        BackendChoice::Wgpu => Device::wgpu_options()
            .graphics_api(burn::tensor::wgpu::WgpuBackend::Vulkan)
            .init()
            .map_err(|e| format!("could not start wgpu on Vulkan: {e:?}")),
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda => Ok(Device::cuda(0)),
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "device {other:?} is not compiled into this binary: rebuild with `--features {}`",
            format!("{other:?}").to_lowercase()
        )),
    }
}
