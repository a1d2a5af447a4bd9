//! The inverse problems' section of the URL: `problem`, `y` (the observation), `samples`,
//! `reweight` (draw the posterior corrected by importance weights).

use super::{Param, parse_bool, parse_in};

/// The inverse-problem view's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct InverseConfig {
    pub problem: crate::inverse::Problem,
    /// The observation `y` (`None`: the problem's default one). Checked against the problem's
    /// observation size when the view starts.
    pub y: Option<Vec<f64>>,
    /// Posterior draws shown.
    pub samples: usize,
    /// Show the posterior corrected by importance weights against the known likelihood
    /// instead of the flow's own draws.
    pub reweight: bool,
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
            reweight: false,
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

impl InverseConfig {
    /// Sets `key` from `value`: `None` when the key is not this section's, else whether the
    /// value was taken.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Option<bool> {
        Some(match key {
            "problem" => value.parse().map(|p| self.problem = p).is_ok(),
            "y" => parse_observation(value).map(|y| self.y = Some(y)).is_some(),
            "samples" => parse_in(value, 1, MAX_POSTERIOR_SAMPLES)
                .map(|v| self.samples = v)
                .is_some(),
            "reweight" => parse_bool(value).map(|v| self.reweight = v).is_some(),
            _ => return None,
        })
    }

    /// This section's parameters against the defaults `d` (`y` to 4 decimals).
    pub(super) fn params(&self, d: &Self) -> Vec<Param> {
        let y = self.y.as_ref().map(|y| {
            let parts: Vec<String> = y.iter().map(|v| format!("{v:.4}")).collect();
            parts.join(",")
        });
        vec![
            (
                "problem",
                self.problem.name().to_string(),
                self.problem == d.problem,
            ),
            ("y", y.unwrap_or_default(), self.y.is_none()),
            (
                "samples",
                self.samples.to_string(),
                self.samples == d.samples,
            ),
            (
                "reweight",
                if self.reweight { "1" } else { "0" }.to_string(),
                self.reweight == d.reweight,
            ),
        ]
    }
}
