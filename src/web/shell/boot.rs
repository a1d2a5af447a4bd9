//! Which build of the page runs. The page ships two builds of this module: the one Trunk
//! loads (the CPU backend only, ≈ 1.6 MB gzip) and a WebGPU build in `gpu/` (≈ 4.5 MB gzip;
//! the WebGPU half is cubecl's run-time kernel generator). The CPU build starts first; when
//! the browser offers a WebGPU adapter the page would use (a real one, or any one when the URL
//! asks for `backend=webgpu`), it loads the WebGPU build in its place and does not mount
//! itself. Visitors without a GPU never download the WebGPU half.
//!
//! The running build's module script is left in `globalThis.flowplayModuleUrl`, so the
//! training worker (`web::playground::link`) starts the same build.

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;

use super::backend::adapter_info;
use super::url::{BackendPref, PageConfig};

/// Where the WebGPU build lies, relative to the page.
const GPU_BUILD: &str = "gpu/flowplay.js";
const GPU_BUILD_WASM: &str = "gpu/flowplay_bg.wasm";

#[wasm_bindgen(inline_js = "
export function load_build(script, wasm) {
  globalThis.flowplayModuleUrl = script;
  return import(script).then((m) => m.default({ module_or_path: wasm }));
}
export function running_build() {
  return globalThis.flowplayModuleUrl;
}
")]
extern "C" {
    /// Imports the build at `script`, records it as the running one and starts it (its start
    /// function mounts the page).
    fn load_build(script: &str, wasm: &str) -> js_sys::Promise;
    /// The module script of the build that runs the page, if it is not the one Trunk loaded.
    fn running_build() -> JsValue;
}

/// The module script the running build came from: the WebGPU build's once it took over,
/// else Trunk's (its `modulepreload` link).
pub fn module_url() -> Option<String> {
    running_build().as_string().or_else(|| {
        gloo_utils::document()
            .query_selector("link[rel=modulepreload]")
            .ok()
            .flatten()
            .and_then(|link| js_sys::Reflect::get(&link, &"href".into()).ok())
            .and_then(|href| href.as_string())
            .filter(|href| href.ends_with(".js"))
    })
}

/// Whether this build has the WebGPU backend.
pub const HAS_WEBGPU: bool = cfg!(feature = "page-webgpu");

/// Whether the page would train on WebGPU with the configuration in its address: a real
/// adapter under `backend=auto`, any adapter under `backend=webgpu`.
pub async fn wants_webgpu() -> bool {
    let loc = gloo_utils::window().location();
    let (cfg, _) = PageConfig::from_url_parts(
        &loc.search().unwrap_or_default(),
        &loc.hash().unwrap_or_default(),
    );
    if cfg.backend == BackendPref::Cpu {
        return false;
    }
    match adapter_info().await {
        None => false,
        Some(info) => cfg.backend == BackendPref::Webgpu || !info.is_software(),
    }
}

/// Loads and starts the WebGPU build in place of this one. The build's URLs carry this
/// build's file hash (both come from one `.ci` build), so a browser never pairs a new page
/// with an old WebGPU build from its cache.
pub async fn start_webgpu_build() -> Result<(), String> {
    let base = gloo_utils::document()
        .base_uri()
        .ok()
        .flatten()
        .ok_or("the page has no base URL")?;
    let version = module_url()
        .and_then(|u| u.rsplit('/').next().map(str::to_string))
        .unwrap_or_default();
    let url = |path: &str| -> Result<String, String> {
        let u = web_sys::Url::new_with_base(path, &base).map_err(|e| format!("{e:?}"))?;
        u.search_params().set("v", &version);
        Ok(u.href())
    };
    JsFuture::from(load_build(&url(GPU_BUILD)?, &url(GPU_BUILD_WASM)?))
        .await
        .map(|_| ())
        .map_err(|e| {
            js_sys::Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| format!("{e:?}"))
        })
}

/// After the visitor picked backend `pref` (the configuration now being `fragment`): the CPU
/// build reloads the page at that configuration when WebGPU is asked for, so the WebGPU build
/// can take over.
pub fn reload_for(pref: BackendPref, fragment: &str) {
    if HAS_WEBGPU || pref != BackendPref::Webgpu {
        return;
    }
    let window = gloo_utils::window();
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("#{fragment}")));
    }
    let _ = window.location().reload();
}
