//! The 2D playground's section of the URL: `target` (or `draw`), `flow`, `layers`, `hidden`,
//! `lr`, `batch`, `objective` (`kl`, `regression`, `flow-matching`, `flow-matching-ot`), and the run's `autostart` and `steps`. Its settings are [`PageConfig`]'s own
//! fields (the playground was the page's first mode).

use super::{PageConfig, Param, parse_bool, parse_in};

/// Limits that keep a shared link from freezing a visitor's tab.
pub const MAX_LAYERS: usize = 32;
pub const MIN_HIDDEN: usize = 2;
pub const MAX_HIDDEN: usize = 512;
pub const MIN_BATCH: usize = 8;
pub const MAX_BATCH: usize = 8192;
pub const MIN_LR: f64 = 1e-6;
pub const MAX_LR: f64 = 1.0;

impl PageConfig {
    /// Sets the playground's `key` from `value`: `None` when the key is not this section's,
    /// else whether the value was taken.
    pub(super) fn set_playground(&mut self, key: &str, value: &str) -> Option<bool> {
        let c = self;
        Some(match key {
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
            "steps" => parse_in(value, 1, 10_000_000)
                .map(|v| c.steps = Some(v))
                .is_some(),
            "autostart" => parse_bool(value).map(|v| c.autostart = v).is_some(),
            "objective" => value.parse().map(|o| c.objective = o).is_ok(),
            _ => return None,
        })
    }

    /// The playground's parameters against the defaults `d`: (the flow and its training
    /// settings, the run's `steps` and `autostart`), which the fragment writes first and last.
    pub(super) fn playground_params(&self, d: &Self) -> (Vec<Param>, Vec<Param>) {
        let target = if self.drawing {
            "draw".to_string()
        } else {
            self.target.name().to_string()
        };
        let flow_settings = vec![
            ("target", target, self.target == d.target && !self.drawing),
            ("flow", self.flow.name().to_string(), self.flow == d.flow),
            ("layers", self.layers.to_string(), self.layers == d.layers),
            ("hidden", self.hidden.to_string(), self.hidden == d.hidden),
            ("lr", self.lr.to_string(), self.lr == d.lr),
            ("batch", self.batch.to_string(), self.batch == d.batch),
            (
                "objective",
                self.objective.name().to_string(),
                self.objective == d.objective,
            ),
        ];
        let run_settings = vec![
            (
                "steps",
                self.steps.map(|n| n.to_string()).unwrap_or_default(),
                self.steps.is_none(),
            ),
            ("autostart", "1".to_string(), !self.autostart),
        ];
        (flow_settings, run_settings)
    }
}
