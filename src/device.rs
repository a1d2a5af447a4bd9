//! The one place that picks a Burn [`Device`]: the pure-Rust CPU backend (flex) everywhere,
//! wgpu (Vulkan/Metal natively, WebGPU in the page) and CUDA behind Cargo features.
//!
//! On the command line a device is `cpu`, `wgpu` (the first discrete GPU, else wgpu's default
//! adapter), `wgpu:N` (the N-th discrete GPU) or `cuda[:N]`. Natively the chosen wgpu adapter is
//! reported on stderr (name, type, driver), so a run's log says which GPU — or which software
//! rasteriser — did the work.

use burn::tensor::Device;

/// The backends a user can name on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// Burn's flex backend: pure Rust, runs natively and in wasm.
    Cpu,
    /// Burn's wgpu backend (feature `wgpu`); `Some(n)`: the n-th discrete GPU, `None`: the first
    /// discrete GPU if there is one, else wgpu's default adapter.
    Wgpu(Option<usize>),
    /// Burn's CUDA backend (feature `cuda`), device index.
    Cuda(usize),
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Wgpu(None) => write!(f, "wgpu"),
            Self::Wgpu(Some(n)) => write!(f, "wgpu:{n}"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, index) = match s.split_once(':') {
            Some((name, index)) => {
                let n = index.parse::<usize>().map_err(|_| {
                    format!("device '{s}': the part after ':' must be a device index (0, 1, …)")
                })?;
                (name, Some(n))
            }
            None => (s, None),
        };
        match (name, index) {
            ("cpu" | "flex", None) => Ok(Self::Cpu),
            ("cpu" | "flex", Some(_)) => Err(format!(
                "device '{s}': the CPU backend has one device; write 'cpu'"
            )),
            ("wgpu" | "vulkan", n) => Ok(Self::Wgpu(n)),
            ("cuda", n) => Ok(Self::Cuda(n.unwrap_or(0))),
            _ => Err(format!(
                "unknown device '{s}': expected cpu, wgpu, wgpu:N, cuda or cuda:N"
            )),
        }
    }
}

/// Parses a comma-separated device list (`wgpu:0,wgpu:1`), as `train --devices` takes it.
pub fn parse_device_list(s: &str) -> Result<Vec<BackendChoice>, String> {
    let list: Vec<BackendChoice> = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("--devices: name at least one device".into());
    }
    Ok(list)
}

/// The CPU device (flex). Cheap to call: flex devices are plain values.
pub fn cpu() -> Device {
    Device::flex()
}

/// All the cores this process may use (1 when unknown).
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Whether `device` is the CPU (flex) device.
pub fn is_cpu(device: &Device) -> bool {
    *device == cpu()
}

/// A device that could not be started.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "device {device} is not compiled into this binary: rebuild with `--features {feature}`"
    )]
    NotCompiled {
        device: BackendChoice,
        feature: &'static str,
    },
    #[error("{0}")]
    Start(String),
}

impl From<DeviceError> for String {
    fn from(e: DeviceError) -> Self {
        e.to_string()
    }
}

/// Builds the inference device for `choice`, or says why it is not available in this build.
pub fn inference_device(choice: BackendChoice) -> Result<Device, DeviceError> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        #[cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]
        BackendChoice::Wgpu(index) => native_wgpu::init(index).map_err(DeviceError::Start),
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda(n) => Ok(Device::cuda(n)),
        #[allow(unreachable_patterns)]
        other => Err(DeviceError::NotCompiled {
            device: other,
            feature: match other {
                BackendChoice::Cuda(_) => "cuda",
                _ => "wgpu",
            },
        }),
    }
}

#[cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]
mod native_wgpu {
    use burn::tensor::wgpu::WgpuBackend;
    use burn::tensor::{Device, DeviceKind};

    /// wgpu on Vulkan: the requested discrete GPU, or the first discrete GPU and then the
    /// default adapter (a software device such as lavapipe, when nothing else is there).
    pub fn init(index: Option<usize>) -> Result<Device, String> {
        let try_kind = |kind: DeviceKind| {
            Device::wgpu_options()
                .graphics_api(WgpuBackend::Vulkan)
                .device_kind(kind)
                .init_with_setup()
        };
        let (device, setup) = match index {
            Some(n) => try_kind(DeviceKind::DiscreteGpu(n))
                .map_err(|e| format!("could not start wgpu on discrete GPU {n} (Vulkan): {e:?}"))?,
            None => match try_kind(DeviceKind::DiscreteGpu(0)) {
                Ok(found) => found,
                Err(discrete) => try_kind(DeviceKind::DefaultDevice).map_err(|e| {
                    format!(
                        "could not start wgpu on Vulkan: no discrete GPU ({discrete:?}) and no \
                         default adapter ({e:?}); is a Vulkan driver installed (libvulkan1 and \
                         the GPU's ICD, or mesa-vulkan-drivers for a software device)?"
                    )
                })?,
            },
        };
        let info = setup.adapter.get_info();
        eprintln!(
            "wgpu adapter: {} ({:?}, {:?}, driver {} {})",
            info.name, info.device_type, info.backend, info.driver, info.driver_info
        );
        Ok(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_with_and_without_an_index() {
        assert_eq!("cpu".parse(), Ok(BackendChoice::Cpu));
        assert_eq!("wgpu".parse(), Ok(BackendChoice::Wgpu(None)));
        assert_eq!("wgpu:1".parse(), Ok(BackendChoice::Wgpu(Some(1))));
        assert_eq!("cuda".parse(), Ok(BackendChoice::Cuda(0)));
        assert_eq!(BackendChoice::Wgpu(Some(2)).to_string(), "wgpu:2");
        let err = "wgpu:x".parse::<BackendChoice>().unwrap_err();
        assert!(err.contains("device index"), "{err}");
        let err = "tpu".parse::<BackendChoice>().unwrap_err();
        assert!(err.contains("unknown device 'tpu'"), "{err}");
        assert!("cpu:1".parse::<BackendChoice>().is_err());
        assert_eq!(
            parse_device_list("wgpu:0, wgpu:1"),
            Ok(vec![
                BackendChoice::Wgpu(Some(0)),
                BackendChoice::Wgpu(Some(1))
            ])
        );
        assert!(parse_device_list(" , ").is_err());
    }
}
