//! flowplay: normalizing flows you can train in a browser tab (WebGPU) or natively, from one
//! Burn crate. See `shared/DESIGN.md` for the architecture.

pub mod device;
pub mod flows;
pub mod rng;
pub mod targets;
