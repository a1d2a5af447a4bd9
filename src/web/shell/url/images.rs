//! The image views' section of the URL: `model`, `temperature`, `a`, `b`, `to`, `alpha`,
//! `score`, `limit`.

use super::{Param, parse_in};

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

/// Largest image index the views accept (the bundled subsets hold 500 test images each).
pub const MAX_IMAGE_INDEX: usize = 9_999;
pub const MAX_TEMPERATURE: f32 = 1.2;
pub const MAX_ALPHA: f32 = 2.0;

impl ImageViewConfig {
    /// Sets `key` from `value`: `None` when the key is not this section's, else whether the
    /// value was taken.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Option<bool> {
        let c = self;
        Some(match key {
            "model" => {
                let ok = !value.is_empty()
                    && value.len() <= 64
                    && value
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
                if ok {
                    c.model = value.to_string();
                }
                ok
            }
            "temperature" => parse_in(value, 0.0, MAX_TEMPERATURE)
                .map(|v| c.temperature = v)
                .is_some(),
            "a" => parse_in(value, 0, MAX_IMAGE_INDEX)
                .map(|v| c.a = v)
                .is_some(),
            "b" => parse_in(value, 0, MAX_IMAGE_INDEX)
                .map(|v| c.b = v)
                .is_some(),
            "to" => parse_in(value, 0, 9).map(|v| c.to = v).is_some(),
            "alpha" => parse_in(value, -MAX_ALPHA, MAX_ALPHA)
                .map(|v| c.alpha = v)
                .is_some(),
            "limit" => parse_in(value, 10, 10_000).map(|v| c.limit = v).is_some(),
            "score" => match value {
                "raw" => Some(ScoreKind::Raw),
                "complexity" => Some(ScoreKind::Complexity),
                _ => None,
            }
            .map(|v| c.score = v)
            .is_some(),
            _ => return None,
        })
    }

    /// This section's parameters against the defaults `d`.
    pub(super) fn params(&self, d: &Self) -> Vec<Param> {
        vec![
            ("model", self.model.clone(), self.model == d.model),
            (
                "temperature",
                self.temperature.to_string(),
                self.temperature == d.temperature,
            ),
            ("a", self.a.to_string(), self.a == d.a),
            ("b", self.b.to_string(), self.b == d.b),
            ("to", self.to.to_string(), self.to == d.to),
            ("alpha", self.alpha.to_string(), self.alpha == d.alpha),
            (
                "score",
                self.score.name().to_string(),
                self.score == d.score,
            ),
            ("limit", self.limit.to_string(), self.limit == d.limit),
        ]
    }
}
