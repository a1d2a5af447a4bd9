//! Loading what the image views explore: the gallery index (`models/index.json`), a model
//! (fetched from `models/`, or a file the visitor imports) on the page's backend, and the
//! bundled test subsets (`data/<set>-sample/`) of its data set and of the other one.

use std::rc::Rc;

use super::state::{ImagePage, LoadedModel, Subsets, Work};
use crate::explore::gallery::ModelIndex;
use crate::images::ImageSet;
use crate::images::idx::{Part, gunzip_if_gz, pair_from_bytes};
use crate::model_file;
use crate::web::shell::backend;
use crate::web::shell::context::Shell;
use crate::web::shell::files::{fetch_bytes, fetch_bytes_with_progress};
use crate::web::shell::host::now_ms;
use crate::web::shell::url::BackendPref;
use leptos::prelude::*;

/// The data sets with a bundled test subset, and the other one each is compared with.
const SUBSETS: [(&str, &str); 2] = [("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")];

/// Fetches and parses `models/index.json`.
pub async fn fetch_index() -> Result<ModelIndex, String> {
    let bytes = fetch_bytes("models/index.json")
        .await
        .map_err(|e| format!("could not fetch the model index: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("the model index is not valid: {e}"))
}

/// One bundled test subset, `data/<name>-sample/t10k-*-ubyte.gz`.
async fn fetch_subset(name: &str) -> Result<ImageSet, String> {
    let dir = format!("data/{name}-sample");
    let get = |file: &'static str| {
        let url = format!("{dir}/{file}");
        async move {
            let raw = fetch_bytes(&url)
                .await
                .map_err(|e| format!("could not fetch {url}: {e}"))?;
            gunzip_if_gz(raw).map_err(|e| format!("{url}: {e}"))
        }
    };
    let images = get("t10k-images-idx3-ubyte.gz").await?;
    let labels = get("t10k-labels-idx1-ubyte.gz").await?;
    pair_from_bytes(&images, &labels).map_err(|(part, reason)| {
        let which = if part == Part::Images {
            "images"
        } else {
            "labels"
        };
        format!("{dir} ({which}): {reason}")
    })
}

impl ImagePage {
    /// The visitor chose model `name` (a file stem of the index): it goes into the address bar
    /// and is loaded on the page's backend.
    pub fn choose(self, shell: Shell, name: String) {
        shell.config.update(|c| c.images.model = name.clone());
        let pref = shell.config.with_untracked(|c| c.backend);
        leptos::task::spawn_local(self.load_named(name, pref));
    }

    /// Loads `models/<name>.flow` (if it is not the model already loaded).
    pub async fn load_named(self, name: String, pref: BackendPref) {
        if self.model_name.get_untracked() == name && self.model.with_value(Option::is_some) {
            return;
        }
        let entry = self
            .index
            .with_untracked(|i| i.as_ref().and_then(|i| i.find(&name).cloned()));
        self.download_bytes.set(entry.as_ref().map(|e| e.bytes));
        self.work.set(Work::Loading);
        let file = entry.map_or_else(|| format!("{name}.flow"), |e| e.file);
        self.progress.set(0.0);
        let on_chunk = |done: usize, total: Option<usize>| {
            if let Some(t) = total.or(self.download_bytes.get_untracked()) {
                self.progress.set(done as f64 / t.max(1) as f64);
            }
            self.downloaded.set(done);
        };
        match fetch_bytes_with_progress(&format!("models/{file}"), on_chunk).await {
            Ok(bytes) => self.load_bytes(bytes, name, pref).await,
            Err(e) => self.fail(format!("could not fetch models/{file}: {e}")),
        }
    }

    /// Loads `.flow` bytes as the explored model: refuses 2D models and damaged files with a
    /// message, then fetches the bundled subsets of its data set.
    pub async fn load_bytes(self, bytes: Vec<u8>, name: String, pref: BackendPref) {
        self.work.set(Work::Loading);
        self.error.set(None);
        let t0 = now_ms();
        let chosen = backend::choose(pref).await;
        let (flow, meta) = match model_file::from_bytes(bytes, &chosen.device) {
            Ok(loaded) => loaded,
            Err(e) => return self.fail(format!("could not load {name}: {e}")),
        };
        let Some(image) = meta.image else {
            return self.fail(format!(
                "{name} is a 2D model (dimension {}); open it in the 2D playground",
                flow.dim()
            ));
        };
        let model = LoadedModel {
            name: name.clone(),
            flow,
            shape: image.shape,
            dataset: image.dataset.clone(),
            device: chosen.device.clone(),
        };
        let data = match image.dataset.as_deref() {
            Some(d) => match SUBSETS.iter().find(|(own, _)| *own == d) {
                Some((own, other)) => match (fetch_subset(own).await, fetch_subset(other).await) {
                    (Ok(inliers), Ok(outliers)) if inliers.shape == image.shape => {
                        Some(Rc::new(Subsets {
                            inlier_name: own.to_string(),
                            inliers,
                            outlier_name: other.to_string(),
                            outliers,
                        }))
                    }
                    (Err(e), _) | (_, Err(e)) => return self.fail(e),
                    _ => None,
                },
                None => None,
            },
            None => None,
        };
        self.model.set_value(Some(Rc::new(model)));
        self.class_means.set_value(None);
        self.scores.set_value(None);
        self.data.set_value(data);
        self.backend
            .set(format!("{} ({})", chosen.name, chosen.reason));
        self.model_name.set(name);
        self.took_ms.set(Some(now_ms() - t0));
        self.work.set(Work::Idle);
        self.loaded.update(|n| *n += 1);
    }
}
