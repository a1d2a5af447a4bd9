//! The index of the models a site serves (`models/index.json`), written by
//! `flowplay models index DIR` and read by the page's gallery: one entry per `.flow` file with
//! what a visitor needs to choose (title, data set, image shape, parameters, test bits/dim,
//! download size) before fetching any weights.

use serde::{Deserialize, Serialize};

use super::classify::Classifier;
use crate::flows::image::ImageShape;
use crate::model_file::{self, ModelFileError};

/// One model of the gallery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// File name, relative to the index.
    pub file: String,
    /// A human title: the preset (image models) or the target and flow (2D models).
    pub title: String,
    /// The data set or target it was trained on.
    pub dataset: Option<String>,
    /// The image shape (`None` for a 2D model).
    pub shape: Option<ImageShape>,
    /// Trained parameters.
    pub params: usize,
    /// Test bits/dim from the training summary, when the run measured it.
    pub test_bpd: Option<f64>,
    /// How the model classifies: "generative" (class-conditional) or "hybrid" (a label head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<String>,
    /// Test accuracy from the summary (`flowplay eval --task classify --record`, or training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub bytes: usize,
}

/// The gallery: every model, image models first, then by file name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelIndex {
    pub models: Vec<ModelEntry>,
}

impl ModelIndex {
    /// The image models only.
    pub fn image_models(&self) -> impl Iterator<Item = &ModelEntry> {
        self.models.iter().filter(|m| m.shape.is_some())
    }

    /// The entry whose file stem is `name` (`mnist-glow-small` for `mnist-glow-small.flow`).
    pub fn find(&self, name: &str) -> Option<&ModelEntry> {
        self.models
            .iter()
            .find(|m| m.file.strip_suffix(".flow") == Some(name) || m.file == name)
    }
}

/// The entry for the `.flow` bytes of file `file` (metadata only; no weights are built).
pub fn entry(file: &str, bytes: &[u8]) -> Result<ModelEntry, ModelFileError> {
    let (meta, values) = model_file::inspect(bytes)?;
    let figure = |key: &str| {
        meta.summary
            .as_ref()
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_f64())
    };
    let test_bpd = figure("test_bpd");
    let test_accuracy = figure("test_accuracy");
    let classifier = Classifier::of_config(&meta.config).map(|c| c.name().to_string());
    let (title, dataset, shape) = match &meta.image {
        Some(image) => (
            image.preset.clone().unwrap_or_else(|| file.to_string()),
            image.dataset.clone(),
            Some(image.shape),
        ),
        None if meta.posterior.is_some() => {
            let p = meta.posterior.as_ref().expect("checked");
            let title = format!("posterior of {} ({})", p.problem.name(), p.method.name());
            (title, Some(p.problem.name().to_string()), None)
        }
        None => {
            let flow = meta.spec.as_ref().map(|s| s.kind.name()).unwrap_or("flow");
            let target = meta.target.clone();
            let title = match &target {
                Some(t) => format!("{flow} on {t}"),
                None => flow.to_string(),
            };
            (title, target, None)
        }
    };
    Ok(ModelEntry {
        file: file.to_string(),
        title,
        dataset,
        shape,
        params: values,
        test_bpd,
        classifier,
        test_accuracy,
        bytes: bytes.len(),
    })
}

/// Sorts image models first, then by file name.
pub fn sorted(mut models: Vec<ModelEntry>) -> ModelIndex {
    models.sort_by(|a, b| (a.shape.is_none(), &a.file).cmp(&(b.shape.is_none(), &b.file)));
    ModelIndex { models }
}
