//! Parameter estimation and inverse problems with amortised posteriors: problems with a known
//! answer ([`problems`], [`reference`]), two ways to learn `p(θ | y)` from simulations (a
//! conditional flow, [`cflow`]; Ardizzone et al.'s INN, [`inn`]; trained by [`fit`]), and the
//! figures that compare them with the truth ([`metrics`], [`report`], [`calibration`]); and
//! what a user needs to trust an answer at any observation: how typical the observation is
//! ([`predictive`]) and, where the likelihood is known, the posterior corrected by importance
//! weights ([`reweight`]).

pub mod calibration;
pub mod cflow;
pub mod fit;
pub mod inn;
pub mod metrics;
pub mod predictive;
pub mod problems;
pub mod reference;
pub mod report;
pub mod reweight;

pub use fit::{FitSettings, Method, PosteriorFit};
pub use problems::Problem;
