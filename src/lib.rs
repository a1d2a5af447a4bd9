//! flowplay: normalizing flows you can train in a browser tab (WebGPU) or natively, from one
//! Burn crate. See `docs/toolchain.md` for the toolchain facts it is built on.

pub mod atomic_file;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod device;
pub mod evaluate;
pub mod explore;
pub mod flows;
pub mod fused;
pub mod images;
pub mod inverse;
pub mod model_file;
pub mod numeric;
pub mod plot;
pub mod presets;
pub mod readback;
pub mod reproduce;
pub mod rng;
pub mod targets;
#[cfg(test)]
pub mod testing;
pub mod train;
pub mod web;
