//! The page's third mode, "Inverse problems": a pretrained amortised posterior `q(θ | y)` drawn
//! for the observation the visitor drags, beside the exact posterior where it has one, with
//! how far that observation is from what the posterior was trained on and, on request, the
//! posterior corrected with the known likelihood.
//!
//! - [`state`]: the loaded posterior, the draws and what is known of them;
//! - [`paint`]: the picture;
//! - [`trust`]: the typicality line and the correction switch;
//! - [`view`]: the mode's components.

pub mod paint;
pub mod state;
pub mod trust;
pub mod view;
