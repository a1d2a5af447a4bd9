//! The 2D playground: pick a target and a flow, train it live and watch the density, the
//! samples, the loss and each layer. Training runs in a Web Worker (the page's own module
//! started a second time, [`worker`]) or, where workers are refused, on the page's thread; both
//! run the same [`train_loop`]. The messages between the page and the loop ([`protocol`]) and the
//! live heatmap's refresh plan ([`live_grid`]) are plain Rust, tested natively.
//!
//! The page's side: [`state`] (the `Page` context), [`driver`] (controls → requests, replies →
//! signals), [`link`] (starting the worker), [`draw`], [`files`] (export, import, the bundled
//! model), [`components`] and [`view`]. The loop's side: [`runner`] (a run and its WebGPU → CPU
//! fallback) and [`session`] (the trainer, frames, the heatmap grid).

pub mod live_grid;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod draw;
#[cfg(target_arch = "wasm32")]
pub mod driver;
#[cfg(target_arch = "wasm32")]
pub mod files;
#[cfg(target_arch = "wasm32")]
pub mod link;
#[cfg(target_arch = "wasm32")]
pub mod runner;
#[cfg(target_arch = "wasm32")]
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod state;
#[cfg(target_arch = "wasm32")]
pub mod train_loop;
#[cfg(target_arch = "wasm32")]
pub mod view;
#[cfg(target_arch = "wasm32")]
pub mod worker;
