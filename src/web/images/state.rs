//! The image views' shared state: the gallery, the loaded model (on the page's backend), the
//! bundled test subsets it is explored with, and the status that `#flow-status` reports.

use std::rc::Rc;

use burn::tensor::Device;
use leptos::prelude::*;

use crate::explore::gallery::ModelIndex;
use crate::flows::Flow;
use crate::flows::image::ImageShape;
use crate::images::ImageSet;

/// Both scores of every image of both sets.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    pub raw_in: Vec<f64>,
    pub raw_out: Vec<f64>,
    pub cx_in: Vec<f64>,
    pub cx_out: Vec<f64>,
}

/// A model loaded for exploring.
pub struct LoadedModel {
    /// The file stem (`mnist-glow-small`) or the imported file's name.
    pub name: String,
    pub flow: Flow,
    pub shape: ImageShape,
    /// The data set it was trained on (`mnist`, `fashion-mnist`), when its file says.
    pub dataset: Option<String>,
    pub device: Device,
}

/// The bundled test subsets: the model's own data set and the other one.
pub struct Subsets {
    /// Name of the in-distribution set (`mnist`).
    pub inlier_name: String,
    pub inliers: ImageSet,
    pub outlier_name: String,
    pub outliers: ImageSet,
}

/// The mean latent code of each class (`None` for a class with no image).
pub type ClassMeans = Rc<Vec<Option<Vec<f32>>>>;

/// What a view is doing (`data-state` of `#flow-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Idle,
    Loading,
    Working,
    Done,
    Stopped,
    Error,
}

impl Work {
    pub fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Loading => "loading",
            Self::Working => "working",
            Self::Done => "done",
            Self::Stopped => "stopped",
            Self::Error => "error",
        }
    }
}

/// The image views' context (all fields are `Copy` handles).
#[derive(Clone, Copy)]
pub struct ImagePage {
    pub index: RwSignal<Option<ModelIndex>>,
    pub(super) model: StoredValue<Option<Rc<LoadedModel>>, LocalStorage>,
    pub(super) data: StoredValue<Option<Rc<Subsets>>, LocalStorage>,
    /// The loaded model's name (empty while none).
    pub model_name: RwSignal<String>,
    /// Bumped when a model (or its data) finishes loading, so views start their work.
    pub loaded: RwSignal<u64>,
    /// Bytes of the model being downloaded (from the index), for the progress line.
    pub download_bytes: RwSignal<Option<usize>>,
    /// Bytes of the model downloaded so far.
    pub downloaded: RwSignal<usize>,
    pub work: RwSignal<Work>,
    /// Backend name and how long the last piece of work took.
    pub backend: RwSignal<String>,
    pub took_ms: RwSignal<Option<f64>>,
    /// Fraction done of the work under way (for `<progress>`).
    pub progress: RwSignal<f64>,
    pub samples_drawn: RwSignal<usize>,
    pub auroc: RwSignal<Option<f64>>,
    /// Interpolation: how well the decoded ends reproduce the inputs (mean |Δpixel|).
    pub end_error: RwSignal<Option<f64>>,
    /// Latent arithmetic: the class of the chosen image, and the class means (per model).
    pub from_class: RwSignal<Option<u8>>,
    /// Latent arithmetic: how well the first frame (α = 0) reproduces the image, and how far
    /// the last frame moved from it (both mean |Δpixel|).
    pub arith_figures: RwSignal<Option<(f64, f64)>>,
    pub(super) class_means: StoredValue<Option<ClassMeans>, LocalStorage>,
    /// Anomaly view: both AUROCs (raw, corrected), every score, the drawing's verdict.
    pub aurocs: RwSignal<Option<(Option<f64>, Option<f64>)>>,
    pub(super) scores: StoredValue<Option<Scores>, LocalStorage>,
    pub drawing_score: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    /// Bumped by Stop and by every new piece of work, so a stale loop ends.
    pub(super) generation: RwSignal<u64>,
}

impl ImagePage {
    pub fn new() -> Self {
        Self {
            index: RwSignal::new(None),
            model: StoredValue::new_local(None),
            data: StoredValue::new_local(None),
            model_name: RwSignal::new(String::new()),
            loaded: RwSignal::new(0),
            download_bytes: RwSignal::new(None),
            downloaded: RwSignal::new(0),
            work: RwSignal::new(Work::Idle),
            backend: RwSignal::new(String::new()),
            took_ms: RwSignal::new(None),
            progress: RwSignal::new(0.0),
            samples_drawn: RwSignal::new(0),
            auroc: RwSignal::new(None),
            end_error: RwSignal::new(None),
            from_class: RwSignal::new(None),
            arith_figures: RwSignal::new(None),
            class_means: StoredValue::new_local(None),
            aurocs: RwSignal::new(None),
            scores: StoredValue::new_local(None),
            drawing_score: RwSignal::new(None),
            error: RwSignal::new(None),
            generation: RwSignal::new(0),
        }
    }

    /// Shows `message` and marks the work as failed.
    pub fn fail(&self, message: String) {
        web_sys::console::error_1(&message.as_str().into());
        self.error.set(Some(message));
        self.work.set(Work::Error);
    }

    /// Starts a new piece of work: returns its generation (compare with [`Self::current`]).
    pub fn begin(&self) -> u64 {
        self.generation.update(|g| *g += 1);
        self.error.set(None);
        self.progress.set(0.0);
        self.work.set(Work::Working);
        self.generation.get_untracked()
    }

    /// Whether work `generation` is still the current one (not stopped or replaced).
    pub fn current(&self, generation: u64) -> bool {
        self.generation.get_untracked() == generation
    }

    /// Stops the work under way.
    pub fn stop(&self) {
        if self.work.get_untracked() == Work::Working {
            self.generation.update(|g| *g += 1);
            self.work.set(Work::Stopped);
        }
    }

    /// The loaded model, if any (shared: work in progress keeps its copy of the handle).
    pub fn model(&self) -> Option<Rc<LoadedModel>> {
        self.model.get_value()
    }

    /// The bundled subsets, if loaded.
    pub fn data(&self) -> Option<Rc<Subsets>> {
        self.data.get_value()
    }
}

impl Default for ImagePage {
    fn default() -> Self {
        Self::new()
    }
}
