//! Parameter estimation and inverse problems with amortised posteriors: problems with a known
//! answer ([`problems`], [`reference`]), two ways to learn `p(θ | y)` from simulations (a
//! conditional flow, [`cflow`]; Ardizzone et al.'s INN, [`inn`]; trained by [`fit`]), and the
//! figures that compare them with the truth ([`metrics`], [`report`]).

pub mod cflow;
pub mod fit;
pub mod inn;
pub mod metrics;
pub mod problems;
pub mod reference;
pub mod report;

pub use fit::{FitSettings, Method, PosteriorFit};
pub use problems::Problem;
