//! The page's URL contract: the whole configuration lives in the fragment,
//! `#target=moons&flow=realnvp&layers=8&hidden=64&lr=0.001&batch=512&backend=cpu&seed=0`,
//! plus `autostart=1`, `steps=N` (stop after N steps) and `embed=1` (also accepted in the query).
//! The image views add `view=samples|interpolate|arithmetic|anomaly`, `model=NAME` (a file stem
//! under `models/`), `temperature`, `a`, `b` (image indices), `to` (a class), `alpha`,
//! `score=raw|complexity` and `limit`:
//! `#view=samples&model=mnist-glow-small&temperature=0.9&seed=3`. The inverse problems read
//! `problem`, `y`, `samples`; the Papers view `energies` and `lengths`.
//! Unknown or malformed parameters fall back to their defaults and produce a notice.
//!
//! One section per mode, each with its settings, limits, parsing and fragment: [`playground`],
//! [`images`], [`inverse`], [`papers`]; this file holds what they share (the view, the backend, the seed,
//! `embed`) and composes them into [`PageConfig`]. A link may carry several sections (a page
//! remembers the playground's settings while it shows an image view), which is why the
//! contract is one object in the shell rather than three in the modes.

mod images;
mod inverse;
mod papers;
mod playground;

pub use images::{ImageViewConfig, MAX_ALPHA, MAX_IMAGE_INDEX, MAX_TEMPERATURE, ScoreKind};
pub use inverse::{InverseConfig, MAX_OBSERVATION, MAX_POSTERIOR_SAMPLES};
pub use papers::{MAX_PAPER_LENGTH, PaperFigure, PapersConfig};
pub use playground::{MAX_BATCH, MAX_HIDDEN, MAX_LAYERS, MAX_LR, MIN_BATCH, MIN_HIDDEN, MIN_LR};

use crate::flows::FlowKind;
use crate::targets::Target;

/// One parameter of the fragment: `(key, value, whether it is the default)`.
type Param = (&'static str, String, bool);

/// Which compute backend the page trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendPref {
    /// WebGPU on a real adapter, the CPU on a software (fallback) one or without WebGPU.
    Auto,
    Cpu,
    Webgpu,
}

impl BackendPref {
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Webgpu => "webgpu",
        }
    }
}

/// Which part of the page is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The 2D playground (train a flow live).
    Playground,
    /// An image model's samples at a temperature.
    Samples,
    /// Straight and spherical interpolation between two images' latent codes.
    Interpolate,
    /// An image moved along the direction between two class means.
    Arithmetic,
    /// Likelihood-based out-of-distribution detection: histograms, ROC, AUROC.
    Anomaly,
    /// A class-conditional model as a generative classifier: p(y | x) of a drawn digit, and
    /// samples of each class.
    Classify,
    /// An inverse problem's amortised posterior: drag the observation, watch q(θ | y).
    Inverse,
    /// A published figure re-run live (Rezende & Mohamed 2015, Fig. 3).
    Papers,
}

impl View {
    pub const IMAGE_VIEWS: [View; 5] = [
        View::Samples,
        View::Interpolate,
        View::Arithmetic,
        View::Anomaly,
        View::Classify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Playground => "playground",
            Self::Samples => "samples",
            Self::Interpolate => "interpolate",
            Self::Arithmetic => "arithmetic",
            Self::Anomaly => "anomaly",
            Self::Classify => "classify",
            Self::Inverse => "inverse",
            Self::Papers => "papers",
        }
    }

    pub fn is_image(self) -> bool {
        Self::IMAGE_VIEWS.contains(&self)
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Playground, Self::Inverse, Self::Papers]
            .into_iter()
            .chain(Self::IMAGE_VIEWS)
            .find(|v| v.name() == s)
    }
}

/// Everything the URL can set.
#[derive(Clone, Debug, PartialEq)]
pub struct PageConfig {
    pub target: Target,
    /// `target=draw`: train on points the user draws (`target` then only sets the defaults).
    pub drawing: bool,
    pub flow: FlowKind,
    pub layers: usize,
    pub hidden: usize,
    pub lr: f64,
    pub batch: usize,
    pub backend: BackendPref,
    pub seed: u64,
    pub autostart: bool,
    /// Stop after this many steps (none = train until paused).
    pub steps: Option<usize>,
    /// `objective=`: `kl` (the default), `regression` (regress `log q` onto the target's known
    /// `log p`, mbank's objective), `flow-matching` or `flow-matching-ot` (a `cnf` on a sample
    /// set).
    pub objective: crate::train::FitBy,
    pub embed: bool,
    pub view: View,
    pub images: ImageViewConfig,
    pub inverse: InverseConfig,
    pub papers: PapersConfig,
}

impl Default for PageConfig {
    fn default() -> Self {
        Self {
            target: Target::Samples(crate::targets::SampleSet::Moons),
            drawing: false,
            flow: FlowKind::Realnvp,
            layers: 4,
            hidden: 64,
            lr: 1e-3,
            batch: 512,
            backend: BackendPref::Auto,
            seed: 0,
            autostart: false,
            steps: None,
            objective: crate::train::FitBy::Kl,
            embed: false,
            view: View::Playground,
            images: ImageViewConfig::default(),
            inverse: InverseConfig::default(),
            papers: PapersConfig::default(),
        }
    }
}

fn parse_in<T: std::str::FromStr + PartialOrd + Copy>(v: &str, lo: T, hi: T) -> Option<T> {
    v.parse::<T>().ok().filter(|x| *x >= lo && *x <= hi)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" | "" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Decodes `%XX` escapes and `+` (enough for our values).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why [`PageConfig::set`] refused a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetError {
    /// Not a parameter of the page.
    Unknown,
    /// Not a valid value for it (out of range or unparsable).
    Invalid,
}

impl PageConfig {
    /// Sets one parameter from its text form. The one place that defines each parameter's
    /// parsing and range: the URL parser and the page's form both call it, so a value the form
    /// takes is one the URL takes back on reload.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SetError> {
        let c = self;
        let ok = match key {
            "seed" => value.parse().map(|v| c.seed = v).is_ok(),
            "embed" => parse_bool(value).map(|v| c.embed = v).is_some(),
            "view" => View::parse(value).map(|v| c.view = v).is_some(),
            "backend" => match value {
                "auto" => Some(BackendPref::Auto),
                "cpu" => Some(BackendPref::Cpu),
                "webgpu" | "wgpu" | "gpu" => Some(BackendPref::Webgpu),
                _ => None,
            }
            .map(|b| c.backend = b)
            .is_some(),
            _ => match c
                .set_playground(key, value)
                .or_else(|| c.images.set(key, value))
                .or_else(|| c.inverse.set(key, value))
                .or_else(|| c.papers.set(key, value))
            {
                Some(ok) => ok,
                None => return Err(SetError::Unknown),
            },
        };
        if ok { Ok(()) } else { Err(SetError::Invalid) }
    }
}

impl PageConfig {
    /// Parses a URL's query (`?…`) and fragment (`#…`); returns the config and one notice per
    /// parameter that was ignored.
    pub fn from_url_parts(query: &str, fragment: &str) -> (Self, Vec<String>) {
        let mut c = Self::default();
        let mut notices = Vec::new();
        let pairs = query
            .trim_start_matches('?')
            .split('&')
            .chain(fragment.trim_start_matches('#').split('&'))
            .filter(|kv| !kv.is_empty());
        for kv in pairs {
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            let (key, value) = (decode(key), decode(value));
            let ok = match c.set(&key, &value) {
                Ok(()) => true,
                Err(SetError::Unknown) => {
                    notices.push(format!("unknown parameter '{key}' ignored"));
                    continue;
                }
                Err(SetError::Invalid) => false,
            };
            if !ok {
                notices.push(format!("'{key}={value}' is not valid; using the default"));
            }
        }
        (c, notices)
    }

    /// Every parameter the fragment can carry: `(key, value, whether it is the default)`, each
    /// mode's section in turn.
    fn params(&self) -> Vec<Param> {
        let d = Self::default();
        let (flow_settings, run_settings) = self.playground_params(&d);
        let mut params = vec![("view", self.view.name().to_string(), self.view == d.view)];
        params.extend(flow_settings);
        params.extend(self.images.params(&d.images));
        params.extend(self.inverse.params(&d.inverse));
        params.extend(self.papers.params(&d.papers));
        params.push((
            "backend",
            self.backend.name().to_string(),
            self.backend == d.backend,
        ));
        params.push(("seed", self.seed.to_string(), self.seed == d.seed));
        params.extend(run_settings);
        params
    }

    /// The fragment that reproduces this configuration (without `embed`): the parameters the
    /// shown view is about, always (the playground's flow and training settings; an image
    /// view's model and its own settings), then any other that differs from its default.
    pub fn to_fragment(&self) -> String {
        let always: &[&str] = match self.view {
            View::Playground => &[
                "target", "flow", "layers", "hidden", "lr", "batch", "backend", "seed",
            ],
            View::Samples => &["view", "model", "temperature", "seed", "backend"],
            View::Interpolate => &["view", "model", "a", "b", "backend"],
            View::Arithmetic => &["view", "model", "a", "to", "alpha", "backend"],
            View::Anomaly => &["view", "model", "score", "limit", "backend"],
            View::Classify => &["view", "model", "backend"],
            View::Inverse => &["view", "problem", "y", "samples", "backend"],
            View::Papers => &["view", "energies", "lengths", "steps", "seed"],
        };
        let params = self.params();
        let value = |key: &str| params.iter().find(|p| p.0 == key).map(|p| p.1.clone());
        let mut parts: Vec<String> = always
            .iter()
            .filter_map(|k| {
                value(k)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={v}"))
            })
            .collect();
        parts.extend(
            params
                .iter()
                .filter(|(k, _, default)| !default && !always.contains(k))
                .map(|(k, v, _)| format!("{k}={v}")),
        );
        parts.join("&")
    }
}

#[cfg(test)]
mod tests;
