//! Files in and out of the page: fetching the bundled model, reading an imported `.flow`,
//! downloading an export, and turning a loaded model into a paused run.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::backend;
use super::runner::{Event, Runner};
use super::session::Session;
use super::state::{Page, RunStatus};
use crate::model_file::{self, FlowMeta};
use crate::targets::Target;

/// The pretrained 2D model shipped in `www/models/`.
pub const BUNDLED_MODEL: &str = "models/moons-realnvp.flow";

/// `fetch(url)` → bytes; an HTTP error status is an error.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    fetch_bytes_with_progress(url, |_, _| {}).await
}

/// `fetch(url)` → bytes, calling `progress(bytes so far, total if the server said)` as the body
/// streams in (the browser's `ReadableStream`, read chunk by chunk).
pub async fn fetch_bytes_with_progress(
    url: &str,
    mut progress: impl FnMut(usize, Option<usize>),
) -> Result<Vec<u8>, String> {
    let response = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    let Some(body) = response.body() else {
        return response.binary().await.map_err(|e| e.to_string());
    };
    let js = |e: wasm_bindgen::JsValue| format!("reading the response failed: {e:?}");
    let reader = body.get_reader();
    let read: js_sys::Function = js_sys::Reflect::get(&reader, &"read".into())
        .map_err(js)?
        .unchecked_into();
    let mut out = Vec::with_capacity(total.unwrap_or(0));
    loop {
        let promise: js_sys::Promise = read.call0(&reader).map_err(js)?.unchecked_into();
        let chunk = wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(js)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js)?;
        out.extend(js_sys::Uint8Array::new(&value).to_vec());
        progress(out.len(), total);
    }
    Ok(out)
}

/// The bytes of a file the user picked.
pub async fn read_file(file: web_sys::File) -> Result<Vec<u8>, String> {
    gloo_file::futures::read_as_bytes(&gloo_file::File::from(file))
        .await
        .map_err(|e| format!("could not read the file: {e}"))
}

/// Offers `bytes` as a download named `name`.
pub fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let blob = gloo_file::Blob::new(bytes);
    let url = gloo_file::ObjectUrl::from(blob);
    let a: web_sys::HtmlAnchorElement = gloo_utils::document()
        .create_element("a")
        .map_err(|e| format!("download failed: {e:?}"))?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // `url` is revoked when it is dropped, after the click has started the download.
    Ok(())
}

impl Page {
    /// Downloads the current run's flow as a `.flow` file (with its target and loss history).
    pub fn export(self) {
        let Some((model, target, drawn, history)) = self.runner.with_value(|r| {
            r.as_ref().map(|r| {
                let s = r.session();
                (s.model(), s.target, s.drawn, s.trainer.history.clone())
            })
        }) else {
            return self.fail("export: train or import a flow first".into());
        };
        let flow_name = self.config.get_untracked().flow;
        spawn_local(async move {
            let mut meta = FlowMeta::new(model.config().clone());
            meta.target = (!drawn).then(|| target.name().to_string());
            meta.history = Some(history);
            let result = model_file::to_bytes_async(&model, &meta)
                .await
                .map_err(|e| e.to_string())
                .and_then(|bytes| download(&format!("{}-{flow_name}.flow", target.name()), &bytes));
            if let Err(e) = result {
                self.fail(format!("export failed: {e}"));
            }
        });
    }

    /// Loads a `.flow` file into a paused run (it can then be trained further or exported).
    pub async fn load_model(self, bytes: Vec<u8>, name: &str) {
        let cfg = self.config.get_untracked();
        let chosen = backend::choose(cfg.backend).await;
        let (flow, meta) = match model_file::from_bytes(bytes, &chosen.device.clone().autodiff()) {
            Ok(loaded) => loaded,
            Err(e) => return self.fail(format!("could not load {name}: {e}")),
        };
        if let Some(image) = &meta.image {
            return self.fail(format!(
                "{name} is an image model ({} images{}); the playground trains and shows 2D \
                 flows — open it under \"Image models\" (Import .flow there)",
                image.shape,
                image
                    .dataset
                    .as_deref()
                    .map(|d| format!(" of {d}"))
                    .unwrap_or_default()
            ));
        }
        if flow.dim() != 2 {
            return self.fail(format!(
                "the page shows 2D flows; {name} has dimension {}",
                flow.dim()
            ));
        }
        self.clear_run();
        let target = meta
            .target
            .as_deref()
            .and_then(|t| t.parse::<Target>().ok())
            .unwrap_or(cfg.target);
        let kind = meta.spec.as_ref().map(|s| s.kind).unwrap_or(cfg.flow);
        self.config.update(|c| {
            c.target = target;
            c.flow = kind;
            if let Some(spec) = &meta.spec {
                c.layers = spec.layers;
                c.hidden = spec.hidden;
            }
        });
        let cfg = self.config.get_untracked();
        let session =
            match Session::with_flow(&cfg, chosen.device.clone(), None, flow, meta.history, 0) {
                Ok(s) => s,
                Err(e) => return self.fail(e),
            };
        let runner = Runner::with_session(session, chosen.name, &cfg, None).await;
        self.runner.set_value(Some(runner));
        self.apply(Event::Started {
            backend: chosen.name,
            reason: format!("{} · loaded {name}", chosen.reason),
        });
        self.draw_now().await;
        self.status.set(RunStatus::Paused);
    }
}
