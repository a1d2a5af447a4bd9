//! The page's URL contract: the whole configuration lives in the fragment,
//! `#target=moons&flow=realnvp&layers=8&hidden=64&lr=0.001&batch=512&backend=cpu&seed=0`,
//! plus `autostart=1`, `steps=N` (stop after N steps) and `embed=1` (also accepted in the query).
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
        }
    }
}

/// Limits that keep a shared link from freezing a visitor's tab.
pub const MAX_LAYERS: usize = 32;
pub const MAX_HIDDEN: usize = 512;
pub const MAX_BATCH: usize = 8192;

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
            let ok = match key.as_str() {
                "target" if value == "draw" => {
                    c.drawing = true;
                    true
                }
                "target" => value.parse().map(|t| c.target = t).is_ok(),
                "flow" => value.parse().map(|f| c.flow = f).is_ok(),
                "layers" => parse_in(&value, 1, MAX_LAYERS)
                    .map(|v| c.layers = v)
                    .is_some(),
                "hidden" => parse_in(&value, 2, MAX_HIDDEN)
                    .map(|v| c.hidden = v)
                    .is_some(),
                "lr" => parse_in(&value, 1e-6, 1.0).map(|v| c.lr = v).is_some(),
                "batch" => parse_in(&value, 8, MAX_BATCH)
                    .map(|v| c.batch = v)
                    .is_some(),
                "seed" => value.parse().map(|v| c.seed = v).is_ok(),
                "steps" => parse_in(&value, 1, 10_000_000)
                    .map(|v| c.steps = Some(v))
                    .is_some(),
                "autostart" => parse_bool(&value).map(|v| c.autostart = v).is_some(),
                "embed" => parse_bool(&value).map(|v| c.embed = v).is_some(),
                "backend" => match value.as_str() {
                    "auto" => Some(BackendPref::Auto),
                    "cpu" => Some(BackendPref::Cpu),
                    "webgpu" | "wgpu" | "gpu" => Some(BackendPref::Webgpu),
                    _ => None,
                }
                .map(|b| c.backend = b)
                .is_some(),
                _ => {
                    notices.push(format!("unknown parameter '{key}' ignored"));
                    continue;
                }
            };
            if !ok {
                notices.push(format!("'{key}={value}' is not valid; using the default"));
            }
        }
        (c, notices)
    }

    /// The fragment that reproduces this configuration (without `embed`).
    pub fn to_fragment(&self) -> String {
        let mut s = format!(
            "target={}&flow={}&layers={}&hidden={}&lr={}&batch={}&backend={}&seed={}",
            if self.drawing {
                "draw"
            } else {
                self.target.name()
            },
            self.flow.name(),
            self.layers,
            self.hidden,
            self.lr,
            self.batch,
            self.backend.name(),
            self.seed
        );
        if let Some(n) = self.steps {
            s.push_str(&format!("&steps={n}"));
        }
        if self.autostart {
            s.push_str("&autostart=1");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Energy;

    #[test]
    fn the_documented_example_parses() {
        let (c, notices) = PageConfig::from_url_parts(
            "",
            "#target=u2&flow=nsf&layers=8&hidden=64&lr=0.001&batch=512&backend=cpu&seed=3&autostart=1&steps=300",
        );
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(c.target, Target::Energy(Energy::U2));
        assert_eq!(c.flow, FlowKind::Nsf);
        assert_eq!((c.layers, c.hidden, c.batch, c.seed), (8, 64, 512, 3));
        assert_eq!(c.backend, BackendPref::Cpu);
        assert!(c.autostart);
        assert_eq!(c.steps, Some(300));
        let (again, _) = PageConfig::from_url_parts("", &c.to_fragment());
        assert_eq!(again, c);
    }

    #[test]
    fn bad_values_fall_back_with_notices() {
        let (c, notices) = PageConfig::from_url_parts(
            "?embed=1",
            "#flow=glow&layers=-3&lr=abc&zoom=2&batch=99999999",
        );
        assert_eq!(c.flow, PageConfig::default().flow);
        assert_eq!(c.layers, PageConfig::default().layers);
        assert_eq!(c.batch, PageConfig::default().batch);
        assert!(c.embed);
        assert_eq!(notices.len(), 5, "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("zoom")));
        assert!(notices.iter().any(|n| n.contains("flow=glow")));
    }

    #[test]
    fn draw_your_own_is_a_target() {
        let (c, notices) = PageConfig::from_url_parts("", "#target=draw&flow=maf");
        assert!(notices.is_empty());
        assert!(c.drawing);
        assert!(c.to_fragment().starts_with("target=draw&"));
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(decode("a%3Db+c%2"), "a=b c%2");
    }
}
