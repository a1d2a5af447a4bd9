//! What the Papers mode's page side and its fitting loop (in a Web Worker, or on the page's
//! thread where none starts) say to each other, as JSON: a [`Request`] to fit a figure, and
//! [`Reply`]s as each fit advances and finishes. Every reply names its run, so the replies of a
//! figure the visitor has since replaced are dropped. Plain data, tested natively.

use serde::{Deserialize, Serialize};

/// Fit the figure of `energies` (names, `u1`…`u4`) × (planar, NICE, radial) × `lengths`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    Run {
        run: u64,
        energies: Vec<String>,
        lengths: Vec<usize>,
        steps: Option<usize>,
        seed: u64,
    },
    /// Fit each family of `flows` (names) on `target` ([`crate::reproduce::families`]).
    Compare {
        run: u64,
        target: String,
        flows: Vec<String>,
        steps: Option<usize>,
        seed: u64,
    },
}

/// What the loop reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// The worker is listening.
    Ready,
    /// Fit `index` of `total` (`name`) is at `step`.
    Progress {
        run: u64,
        index: usize,
        total: usize,
        name: String,
        step: usize,
        steps: usize,
    },
    /// Fit `index` finished: its figure (`KL(q ‖ p)` for the Rezende figure; `measure` says
    /// which), `log q` on the panel's grid and the seconds it trained.
    Cell {
        run: u64,
        index: usize,
        name: String,
        label: String,
        kl: f64,
        measure: String,
        seconds: f64,
        log_density: Vec<f32>,
    },
    Done {
        run: u64,
    },
    Failed {
        run: u64,
        error: String,
    },
}

impl Request {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a request serialises")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("flowplay papers: bad request: {e}"))
    }
}

impl Reply {
    pub fn to_json(&self) -> String {
        // `log q` can be −∞ far from the energy's mass: JSON has no spelling for it.
        let finite = |v: &[f32]| {
            v.iter()
                .map(|x| if x.is_finite() { *x } else { -1e30 })
                .collect()
        };
        match self {
            Self::Cell {
                run,
                index,
                name,
                label,
                kl,
                measure,
                seconds,
                log_density,
            } => serde_json::to_string(&Self::Cell {
                run: *run,
                index: *index,
                name: name.clone(),
                label: label.clone(),
                kl: *kl,
                measure: measure.clone(),
                seconds: *seconds,
                log_density: finite(log_density),
            }),
            other => serde_json::to_string(other),
        }
        .expect("a reply serialises")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("flowplay papers: bad reply: {e}"))
    }

    /// The run the reply is about (`None` for `Ready`).
    pub fn run(&self) -> Option<u64> {
        match self {
            Self::Ready => None,
            Self::Progress { run, .. }
            | Self::Cell { run, .. }
            | Self::Done { run }
            | Self::Failed { run, .. } => Some(*run),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests and replies survive the trip through JSON; a cell's −∞ becomes a finite floor.
    #[test]
    fn messages_round_trip_and_infinities_travel() {
        let r = Request::Run {
            run: 3,
            energies: vec!["u2".into()],
            lengths: vec![2, 8],
            steps: Some(300),
            seed: 1,
        };
        assert_eq!(Request::from_json(&r.to_json()).unwrap(), r);
        let compare = Request::Compare {
            run: 4,
            target: "moons".into(),
            flows: vec!["realnvp".into(), "cnf".into()],
            steps: None,
            seed: 0,
        };
        assert_eq!(Request::from_json(&compare.to_json()).unwrap(), compare);
        let c = Reply::Cell {
            run: 3,
            index: 1,
            name: "u2 planar K=8".into(),
            label: "planar K=8".into(),
            kl: 0.1,
            measure: "KL".into(),
            seconds: 2.5,
            log_density: vec![-1.5, f32::NEG_INFINITY],
        };
        let back = Reply::from_json(&c.to_json()).unwrap();
        let Reply::Cell {
            log_density, kl, ..
        } = &back
        else {
            panic!("{back:?}")
        };
        assert_eq!((*kl, log_density[0]), (0.1, -1.5));
        assert!(log_density[1] < -1e29);
        assert_eq!(back.run(), Some(3));
        assert!(Request::from_json("{\"Run\":{}}").is_err());
    }
}
