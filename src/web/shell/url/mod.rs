//! The page's URL contract: the whole configuration lives in the fragment,
//! `#target=moons&flow=realnvp&layers=8&hidden=64&lr=0.001&batch=512&backend=cpu&seed=0`,
//! plus `autostart=1`, `steps=N` (stop after N steps) and `embed=1` (also accepted in the query).
//! The image views add `view=samples|interpolate|arithmetic|anomaly`, `model=NAME` (a file stem
//! under `models/`), `temperature`, `a`, `b` (image indices), `to` (a class), `alpha`,
//! `score=raw|complexity` and `limit`:
//! `#view=samples&model=mnist-glow-small&temperature=0.9&seed=3`.
//! Unknown or malformed parameters fall back to their defaults and produce a notice.

use crate::flows::FlowKind;
use crate::targets::Target;

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
        }
    }

    pub fn is_image(self) -> bool {
        Self::IMAGE_VIEWS.contains(&self)
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Playground, Self::Inverse]
            .into_iter()
            .chain(Self::IMAGE_VIEWS)
            .find(|v| v.name() == s)
    }
}

/// The anomaly view's score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreKind {
    /// Bits per dimension.
    Raw,
    /// Bits per dimension minus the image's PNG bits per dimension (Serrà et al. 2020).
    Complexity,
}

impl ScoreKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Complexity => "complexity",
        }
    }
}

/// The settings of the image views.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageViewConfig {
    /// The model's file stem under `models/`.
    pub model: String,
    /// Sampling temperature (standard deviation of the base noise).
    pub temperature: f32,
    /// The first and second image (indices into the bundled test subset).
    pub a: usize,
    pub b: usize,
    /// Latent arithmetic: the class to move towards, and how far (`0` = the image itself).
    pub to: u8,
    pub alpha: f32,
    pub score: ScoreKind,
    /// Images scored per set in the anomaly view.
    pub limit: usize,
}

impl Default for ImageViewConfig {
    fn default() -> Self {
        Self {
            model: "mnist-glow-small".to_string(),
            temperature: 0.9,
            a: 0,
            b: 1,
            to: 1,
            alpha: 1.0,
            score: ScoreKind::Complexity,
            limit: 500,
        }
    }
}

/// The inverse-problem view's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct InverseConfig {
    pub problem: crate::inverse::Problem,
    /// The observation `y` (`None`: the problem's default one). Checked against the problem's
    /// observation size when the view starts.
    pub y: Option<Vec<f64>>,
    /// Posterior draws shown.
    pub samples: usize,
}

impl InverseConfig {
    /// The observation to draw for: `y` when it has the problem's size, else the problem's
    /// default one.
    pub fn observation(&self) -> Vec<f64> {
        self.y
            .clone()
            .filter(|y| y.len() == self.problem.obs_dim())
            .unwrap_or_else(|| self.problem.default_observation())
    }
}

impl Default for InverseConfig {
    fn default() -> Self {
        Self {
            problem: crate::inverse::Problem::Arm,
            y: None,
            samples: 300,
        }
    }
}

/// Largest |y| component a link may set, and most posterior draws shown.
pub const MAX_OBSERVATION: f64 = 10.0;
pub const MAX_POSTERIOR_SAMPLES: usize = 5000;

/// `y=v1,v2,…`: 1 to 4 finite numbers within ±[`MAX_OBSERVATION`], kept to the 4 decimals the
/// page's link writes (so a link read and written back is the same link).
fn parse_observation(v: &str) -> Option<Vec<f64>> {
    let values: Option<Vec<f64>> = v
        .split(',')
        .map(|s| s.trim().parse::<f64>().ok())
        .map(|x| x.filter(|x| x.is_finite() && x.abs() <= MAX_OBSERVATION))
        .map(|x| x.map(|x| (x * 1e4).round() / 1e4))
        .collect();
    values.filter(|v| (1..=4).contains(&v.len()))
}

/// Largest image index the views accept (the bundled subsets hold 500 test images each).
pub const MAX_IMAGE_INDEX: usize = 9_999;
pub const MAX_TEMPERATURE: f32 = 1.2;
pub const MAX_ALPHA: f32 = 2.0;

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
    pub embed: bool,
    pub view: View,
    pub images: ImageViewConfig,
    pub inverse: InverseConfig,
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
            embed: false,
            view: View::Playground,
            images: ImageViewConfig::default(),
            inverse: InverseConfig::default(),
        }
    }
}

/// Limits that keep a shared link from freezing a visitor's tab.
pub const MAX_LAYERS: usize = 32;
pub const MIN_HIDDEN: usize = 2;
pub const MAX_HIDDEN: usize = 512;
pub const MIN_BATCH: usize = 8;
pub const MAX_BATCH: usize = 8192;
pub const MIN_LR: f64 = 1e-6;
pub const MAX_LR: f64 = 1.0;

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
            "target" if value == "draw" => {
                c.drawing = true;
                true
            }
            "target" => value
                .parse()
                .map(|t| {
                    c.target = t;
                    c.drawing = false;
                })
                .is_ok(),
            "flow" => value.parse().map(|f| c.flow = f).is_ok(),
            "layers" => parse_in(value, 1, MAX_LAYERS)
                .map(|v| c.layers = v)
                .is_some(),
            "hidden" => parse_in(value, MIN_HIDDEN, MAX_HIDDEN)
                .map(|v| c.hidden = v)
                .is_some(),
            "lr" => parse_in(value, MIN_LR, MAX_LR).map(|v| c.lr = v).is_some(),
            "batch" => parse_in(value, MIN_BATCH, MAX_BATCH)
                .map(|v| c.batch = v)
                .is_some(),
            "seed" => value.parse().map(|v| c.seed = v).is_ok(),
            "steps" => parse_in(value, 1, 10_000_000)
                .map(|v| c.steps = Some(v))
                .is_some(),
            "autostart" => parse_bool(value).map(|v| c.autostart = v).is_some(),
            "embed" => parse_bool(value).map(|v| c.embed = v).is_some(),
            "view" => View::parse(value).map(|v| c.view = v).is_some(),
            "model" => {
                let ok = !value.is_empty()
                    && value.len() <= 64
                    && value
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
                if ok {
                    c.images.model = value.to_string();
                }
                ok
            }
            "temperature" => parse_in(value, 0.0, MAX_TEMPERATURE)
                .map(|v| c.images.temperature = v)
                .is_some(),
            "a" => parse_in(value, 0, MAX_IMAGE_INDEX)
                .map(|v| c.images.a = v)
                .is_some(),
            "b" => parse_in(value, 0, MAX_IMAGE_INDEX)
                .map(|v| c.images.b = v)
                .is_some(),
            "to" => parse_in(value, 0, 9).map(|v| c.images.to = v).is_some(),
            "alpha" => parse_in(value, -MAX_ALPHA, MAX_ALPHA)
                .map(|v| c.images.alpha = v)
                .is_some(),
            "limit" => parse_in(value, 10, 10_000)
                .map(|v| c.images.limit = v)
                .is_some(),
            "score" => match value {
                "raw" => Some(ScoreKind::Raw),
                "complexity" => Some(ScoreKind::Complexity),
                _ => None,
            }
            .map(|v| c.images.score = v)
            .is_some(),
            "problem" => value.parse().map(|p| c.inverse.problem = p).is_ok(),
            "y" => parse_observation(value)
                .map(|y| c.inverse.y = Some(y))
                .is_some(),
            "samples" => parse_in(value, 1, MAX_POSTERIOR_SAMPLES)
                .map(|v| c.inverse.samples = v)
                .is_some(),
            "backend" => match value {
                "auto" => Some(BackendPref::Auto),
                "cpu" => Some(BackendPref::Cpu),
                "webgpu" | "wgpu" | "gpu" => Some(BackendPref::Webgpu),
                _ => None,
            }
            .map(|b| c.backend = b)
            .is_some(),
            _ => return Err(SetError::Unknown),
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

    /// Every parameter the fragment can carry: `(key, value, whether it is the default)`.
    fn params(&self) -> Vec<(&'static str, String, bool)> {
        let d = Self::default();
        let (i, di) = (&self.images, &d.images);
        let target = if self.drawing {
            "draw".to_string()
        } else {
            self.target.name().to_string()
        };
        vec![
            ("view", self.view.name().to_string(), self.view == d.view),
            ("target", target, self.target == d.target && !self.drawing),
            ("flow", self.flow.name().to_string(), self.flow == d.flow),
            ("layers", self.layers.to_string(), self.layers == d.layers),
            ("hidden", self.hidden.to_string(), self.hidden == d.hidden),
            ("lr", self.lr.to_string(), self.lr == d.lr),
            ("batch", self.batch.to_string(), self.batch == d.batch),
            ("model", i.model.clone(), i.model == di.model),
            (
                "temperature",
                i.temperature.to_string(),
                i.temperature == di.temperature,
            ),
            ("a", i.a.to_string(), i.a == di.a),
            ("b", i.b.to_string(), i.b == di.b),
            ("to", i.to.to_string(), i.to == di.to),
            ("alpha", i.alpha.to_string(), i.alpha == di.alpha),
            ("score", i.score.name().to_string(), i.score == di.score),
            ("limit", i.limit.to_string(), i.limit == di.limit),
            (
                "problem",
                self.inverse.problem.name().to_string(),
                self.inverse.problem == d.inverse.problem,
            ),
            (
                "y",
                self.inverse
                    .y
                    .as_ref()
                    .map(|y| {
                        let parts: Vec<String> = y.iter().map(|v| format!("{v:.4}")).collect();
                        parts.join(",")
                    })
                    .unwrap_or_default(),
                self.inverse.y.is_none(),
            ),
            (
                "samples",
                self.inverse.samples.to_string(),
                self.inverse.samples == d.inverse.samples,
            ),
            (
                "backend",
                self.backend.name().to_string(),
                self.backend == d.backend,
            ),
            ("seed", self.seed.to_string(), self.seed == d.seed),
            (
                "steps",
                self.steps.map(|n| n.to_string()).unwrap_or_default(),
                self.steps.is_none(),
            ),
            ("autostart", "1".to_string(), !self.autostart),
        ]
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
