//! The training history: one point per evaluation, saved in the `.flow` file and drawn by the
//! loss plot.

use serde::{Deserialize, Serialize};

/// One evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HistoryPoint {
    pub step: usize,
    /// Mean training loss over the steps since the previous point (none before the first step).
    pub train_loss: Option<f64>,
    /// Held-out negative log-likelihood in nats (forward KL only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_nll: Option<f64>,
    /// Learning rate at this step.
    pub lr: f64,
}

/// All evaluations, plus the NaN/Inf events the guard caught.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    pub points: Vec<HistoryPoint>,
    pub nan_events: Vec<usize>,
}

impl History {
    pub fn last(&self) -> Option<&HistoryPoint> {
        self.points.last()
    }

    pub fn first_val_nll(&self) -> Option<f64> {
        self.points.iter().find_map(|p| p.val_nll)
    }

    pub fn best_val_nll(&self) -> Option<f64> {
        self.points
            .iter()
            .filter_map(|p| p.val_nll)
            .min_by(|a, b| a.total_cmp(b))
    }
}
