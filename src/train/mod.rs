//! Training: objectives (forward KL on samples, reverse KL against an energy, regression onto a
//! target log-density, flow matching for continuous flows), Adam with learning-rate warm-up and gradient-norm clipping, a history,
//! and a NaN/Inf guard that rolls back to the last good parameters.
//!
//! The step is `async` (every readback in wasm must be), natively it is driven by
//! [`pollster::block_on`] through [`Trainer::run_blocking`].

pub mod clip;
pub mod data_parallel;
pub mod flow_matching;
pub mod gaussian_baseline;
pub mod history;
pub mod images;
pub mod objective;
pub mod optim;
pub mod params;
pub mod target_problem;
pub mod trainer;
pub mod workers;

pub use history::{History, HistoryPoint};
pub use objective::Objective;
pub use target_problem::{FitBy, TargetProblem, TargetTraining, target_problem};
pub use trainer::{StepOutcome, TrainError, TrainSettings, Trainer};
