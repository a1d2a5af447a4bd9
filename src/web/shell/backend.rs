//! Choosing the page's compute backend: Burn's wgpu on WebGPU when the browser offers a real
//! adapter, the flex CPU backend otherwise (or on request). Software adapters (SwiftShader,
//! `isFallbackAdapter`) run WebGPU on the CPU far slower than flex, so `auto` avoids them.

#[cfg(feature = "page-webgpu")]
use std::cell::RefCell;

use burn::tensor::Device;
#[cfg(feature = "page-webgpu")]
use burn::tensor::wgpu::WgpuBackend;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::url::BackendPref;

/// What the browser's WebGPU adapter says about itself.
#[derive(Clone, Debug)]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub fallback: bool,
}

impl AdapterInfo {
    /// A software rasteriser (SwiftShader) or an adapter that calls itself a fallback.
    pub fn is_software(&self) -> bool {
        self.fallback
            || self.architecture.contains("swiftshader")
            || self.vendor.contains("swiftshader")
    }
}

/// The chosen device and the words the page shows about it.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub device: Device,
    /// `webgpu` or `cpu` (the `data-backend` value).
    pub name: &'static str,
    pub reason: String,
}

#[cfg(feature = "page-webgpu")]
thread_local! {
    /// Burn allows one WebGPU runtime per page: create the device once and share it.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Asks `navigator.gpu` for an adapter; `None` without WebGPU or without an adapter. Works in
/// the page and in its training worker (both have a `navigator`).
pub async fn adapter_info() -> Option<AdapterInfo> {
    let gpu = get(&get(&js_sys::global(), "navigator"), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return None;
    }
    let request: Function = get(&gpu, "requestAdapter").dyn_into().ok()?;
    let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = JsFuture::from(promise).await.ok()?;
    if adapter.is_null() || adapter.is_undefined() {
        return None;
    }
    let info = get(&adapter, "info");
    let text = |v: JsValue| v.as_string().unwrap_or_default().to_lowercase();
    let fallback = get(&info, "isFallbackAdapter")
        .as_bool()
        .or_else(|| get(&adapter, "isFallbackAdapter").as_bool())
        .unwrap_or(false);
    Some(AdapterInfo {
        vendor: text(get(&info, "vendor")),
        architecture: text(get(&info, "architecture")),
        fallback,
    })
}

#[cfg(not(feature = "page-webgpu"))]
async fn webgpu_device() -> Result<Device, String> {
    Err("the page runs its CPU build (its WebGPU build did not load: see the console)".into())
}

#[cfg(all(feature = "page-webgpu", feature = "test-hooks"))]
thread_local! {
    /// The wgpu device under the page's WebGPU runtime, kept for [`lose_webgpu_device`].
    static WGPU_DEVICE: RefCell<Option<burn::tensor::wgpu::wgpu::Device>> = const { RefCell::new(None) };
}

#[cfg(feature = "page-webgpu")]
async fn webgpu_device() -> Result<Device, String> {
    if let Some(d) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(d);
    }
    let (device, _setup) = Device::wgpu_options()
        .graphics_api(WgpuBackend::WebGpu)
        .init_with_setup_async()
        .await
        .map_err(|e| format!("WebGPU initialisation failed: {e:?}"))?;
    #[cfg(feature = "test-hooks")]
    WGPU_DEVICE.with(|d| *d.borrow_mut() = Some(_setup.device.clone()));
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// Test hook (feature `test-hooks`): destroys the WebGPU device the page trains on
/// (`GPUDevice.destroy()`), a real device loss that the runtime learns of as a driver reset
/// would tell it; `false` when there is no WebGPU device here to lose (a CPU run, or the CPU
/// build of the page).
#[cfg(all(feature = "test-hooks", feature = "page-webgpu"))]
pub fn lose_webgpu_device() -> bool {
    WGPU_DEVICE.with(|d| d.borrow().as_ref().map(|d| d.destroy()).is_some())
}

/// [`lose_webgpu_device`] in the CPU build: there is no WebGPU device to lose.
#[cfg(all(feature = "test-hooks", not(feature = "page-webgpu")))]
pub fn lose_webgpu_device() -> bool {
    false
}

fn cpu(reason: String) -> Chosen {
    Chosen {
        device: Device::flex(),
        name: "cpu",
        reason,
    }
}

/// Picks the device for `pref`, explaining the choice.
pub async fn choose(pref: BackendPref) -> Chosen {
    if pref == BackendPref::Cpu {
        return cpu("CPU backend requested".into());
    }
    let Some(info) = adapter_info().await else {
        return cpu("this browser offers no WebGPU adapter, so training runs on the CPU".into());
    };
    if pref == BackendPref::Auto && info.is_software() {
        return cpu(format!(
            "the WebGPU adapter is a software one ({} {}), slower than the CPU backend; add backend=webgpu to the URL to use it anyway",
            info.vendor, info.architecture
        ));
    }
    match webgpu_device().await {
        Ok(device) => Chosen {
            device,
            name: "webgpu",
            reason: format!(
                "WebGPU on {} {}{}",
                info.vendor,
                info.architecture,
                if info.is_software() {
                    " (software adapter)"
                } else {
                    ""
                }
            ),
        },
        Err(e) => cpu(format!("{e}; training runs on the CPU instead")),
    }
}
