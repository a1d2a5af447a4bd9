//! What the page's UI thread and its training loop say to each other: [`Request`]s in,
//! [`Reply`]s out. In the page they travel as JSON strings between the UI thread and the Web
//! Worker that trains (`web::worker`); where no worker can start they are handed over directly
//! (`web::playground::link`). Plain data, so the contract is tested natively.
//!
//! Every reply about a run carries the run's number (`run`, chosen by the UI thread when it asks
//! for the run), so replies about a run the visitor has since reset are recognised and dropped.
//! Floats that can be non-finite (a log-density of `-inf`, a NaN inversion error) travel as
//! their bit patterns: JSON has no spelling for them.

use serde::{Deserialize, Serialize};

use crate::targets::Bounds;
use crate::train::History;

/// What the UI thread asks of the training loop. The loop handles requests in order, between
/// slices of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Build run `run` for the playground configuration `fragment` (the URL fragment,
    /// `PageConfig::to_fragment`), on the points the visitor drew when `drawn` is set. A
    /// `preview` run that cannot be built stays quiet; its error is reported when it is trained.
    Start {
        run: u64,
        fragment: String,
        drawn: Option<Vec<f32>>,
        preview: bool,
    },
    /// Load the `.flow` file `name` (its `bytes`) as run `run`, paused; the configuration
    /// `fragment` supplies what the file does not say.
    Load {
        run: u64,
        fragment: String,
        name: String,
        bytes: Vec<u8>,
    },
    /// Train until the step limit, a `Pause` or a `Reset`.
    Train,
    Pause,
    /// One step, then paused.
    Step,
    /// Drop the run.
    Reset,
    /// What the views draw: the heatmap's grid (the whole of it, or with `live` the part that
    /// fits a frame's budget while training: `web::playground::live_grid`) and, with `stages`, the
    /// layer-by-layer view. Always answered by a [`Reply::Frame`] (empty without a run).
    Frame {
        live: bool,
        stages: bool,
    },
    /// The run's flow as a `.flow` file.
    Export,
    /// Test hook: the next step fails as a lost GPU would.
    #[cfg(feature = "test-hooks")]
    SimulateDeviceLoss,
    /// Test hook: the worker panics, as it would on a bug or when its memory runs out (ignored
    /// by a loop on the UI thread, which would take the page down with it).
    #[cfg(feature = "test-hooks")]
    SimulateCrash,
}

/// What the training loop sends back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// The worker is listening (its first message).
    Ready,
    Event {
        run: u64,
        event: Event,
    },
    /// The answer to a [`Request::Frame`]; `None` when there is no run to draw.
    Frame {
        run: u64,
        frame: Option<Box<Frame>>,
    },
    /// The answer to [`Request::Export`]: the file's suggested name and its bytes.
    Exported {
        run: u64,
        name: String,
        bytes: Vec<u8>,
    },
    /// The worker panicked with this message (sent by its panic hook just before it dies);
    /// the page's side of the link passes it on with the worker's error event, once it has
    /// started a fresh worker. The run is lost.
    Crashed(String),
}

/// The figures after a slice of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: usize,
    pub loss: Option<f32>,
    pub val_nll: Option<f64>,
    pub nan_events: usize,
    /// Steps per second over the slice (absent when the slice took no step).
    pub steps_per_sec: Option<f64>,
}

/// What happened to a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// The run was built on `backend` (`webgpu` or `cpu`), for `reason`.
    Started {
        backend: String,
        reason: String,
    },
    /// A `.flow` file was loaded; `fragment` is the configuration it implies (target, flow,
    /// layers, hidden).
    Loaded {
        fragment: String,
    },
    Progress(Progress),
    /// The GPU failed; training continues on the CPU from the checkpoint at `step`.
    FellBack {
        reason: String,
        step: usize,
    },
    /// The step limit is reached.
    Finished,
    Failed(String),
}

/// One stage of the layer-by-layer view (noise → data): the samples after it, and the mean
/// log|det| of the layer that produced them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageView {
    pub label: String,
    #[serde(with = "f32_vec_bits")]
    pub points: Vec<f32>,
    #[serde(with = "f32_bits")]
    pub mean_logdet: f32,
    /// Largest |log det| of this layer over the samples (for a 2D coupling: its largest |log-scale|).
    #[serde(with = "f32_bits")]
    pub max_abs_logdet: f32,
    /// A continuous flow's velocity field at this stage's time, as `[x, y, vx, vy]` quads on a
    /// grid over the points' box (empty for other layers).
    #[serde(with = "f32_vec_bits", default)]
    pub arrows: Vec<f32>,
}

/// Half the side of the square box a stage's points (`[x, y]` pairs) are drawn in: their
/// largest finite coordinate (at least 1, at most 50), plus 5 %.
pub fn stage_radius(points: &[f32]) -> f64 {
    points
        .iter()
        .filter(|v| v.is_finite())
        .fold(1.0f64, |m, v| m.max((*v as f64).abs()))
        .min(50.0)
        * 1.05
}

/// The density grid, samples and inversion error of the flow at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `log q` on the `res × res` grid of the run's bounds.
    #[serde(with = "f32_vec_bits")]
    pub grid: Vec<f32>,
    pub res: usize,
    /// This frame evaluated one cell in `grid_stride²` (1: all of them; the others keep their
    /// values from earlier frames: `web::playground::live_grid`).
    pub grid_stride: usize,
    /// How long this frame's part of the grid took (ms).
    pub grid_ms: f64,
    #[serde(with = "f32_vec_bits")]
    pub samples: Vec<f32>,
    /// ‖f⁻¹(f(x)) − x‖∞ on the first 64 drawn samples (`session::INVERSION_SAMPLES`).
    #[serde(with = "f32_bits")]
    pub inversion_error: f32,
}

/// Everything the views draw: the snapshot, the plotting box, the data shown over the heatmap,
/// the loss history and (when asked for) the layer-by-layer stages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub snapshot: Snapshot,
    pub bounds: Bounds,
    /// Training data to overlay, `[x, y]` pairs (at most a few hundred).
    #[serde(with = "f32_vec_bits")]
    pub data: Vec<f32>,
    pub history: History,
    pub stages: Option<Vec<StageView>>,
    /// Time the training loop spent computing the frame (ms).
    pub compute_ms: f64,
}

impl Request {
    /// The request as the JSON text posted to the worker.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("requests are plain data")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable request to the worker: {e}"))
    }
}

impl Reply {
    /// The reply as the JSON text posted back to the page.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("replies are plain data")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable reply from the worker: {e}"))
    }
}

/// An `f32` as its IEEE-754 bits (so NaN and ±∞ survive JSON).
mod f32_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(v.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        u32::deserialize(d).map(f32::from_bits)
    }
}

/// A `Vec<f32>` as the bits of each value.
mod f32_vec_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| x.to_bits()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Vec::<u32>::deserialize(d).map(|v| v.into_iter().map(f32::from_bits).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::HistoryPoint;

    fn frame() -> Frame {
        Frame {
            snapshot: Snapshot {
                grid: vec![f32::NEG_INFINITY, -1.5, 0.25, f32::NAN],
                res: 2,
                grid_stride: 2,
                grid_ms: 3.5,
                samples: vec![0.1, -0.2],
                inversion_error: f32::NAN,
            },
            bounds: Bounds::square(3.0),
            data: vec![1.0, 2.0],
            history: History {
                points: vec![HistoryPoint {
                    step: 50,
                    train_loss: Some(2.5),
                    val_nll: None,
                    lr: 1e-3,
                }],
                nan_events: vec![7],
            },
            stages: Some(vec![StageView {
                label: "base samples z ~ q₀".into(),
                points: vec![f32::INFINITY, 0.5],
                mean_logdet: 0.0,
                max_abs_logdet: f32::NAN,
                arrows: vec![0.5, -1.0, 2.0, f32::NAN],
            }]),
            compute_ms: 12.0,
        }
    }

    /// Bit-exact, so NaN compares by its bits rather than by `==`.
    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn a_frame_survives_json_bit_for_bit() {
        let sent = frame();
        let reply = Reply::Frame {
            run: 4,
            frame: Some(Box::new(sent.clone())),
        };
        let Reply::Frame {
            run,
            frame: Some(got),
        } = Reply::from_json(&reply.to_json()).unwrap()
        else {
            panic!("not a frame");
        };
        assert_eq!(run, 4);
        assert_eq!(bits(&got.snapshot.grid), bits(&sent.snapshot.grid));
        assert!(got.snapshot.grid[0] == f32::NEG_INFINITY && got.snapshot.grid[3].is_nan());
        assert!(got.snapshot.inversion_error.is_nan());
        let stage = &got.stages.as_ref().unwrap()[0];
        assert_eq!(stage.points[0], f32::INFINITY);
        assert!(stage.max_abs_logdet.is_nan());
        assert_eq!(got.history, sent.history);
        assert_eq!(
            (got.bounds, &got.data, got.snapshot.res),
            (sent.bounds, &sent.data, 2)
        );
    }

    #[test]
    fn every_request_round_trips() {
        let requests = [
            Request::Start {
                run: 1,
                fragment: "target=moons&flow=realnvp".into(),
                drawn: Some(vec![0.5, -0.5]),
                preview: true,
            },
            Request::Load {
                run: 2,
                fragment: String::new(),
                name: "a.flow".into(),
                bytes: vec![0, 255, 7],
            },
            Request::Train,
            Request::Pause,
            Request::Step,
            Request::Reset,
            Request::Frame {
                live: true,
                stages: true,
            },
            Request::Export,
            #[cfg(feature = "test-hooks")]
            Request::SimulateDeviceLoss,
            #[cfg(feature = "test-hooks")]
            Request::SimulateCrash,
        ];
        for r in requests {
            assert_eq!(Request::from_json(&r.to_json()).unwrap(), r);
        }
    }

    #[test]
    fn a_foreign_message_is_an_error_that_says_so() {
        let e = Request::from_json("{\"Launch\":1}").unwrap_err();
        assert!(e.contains("unreadable request"), "{e}");
        let e = Reply::from_json("not json").unwrap_err();
        assert!(e.contains("unreadable reply"), "{e}");
    }
}
