//! The page's fourth mode, "Papers": a published figure re-run live in the tab, with the same
//! cells and numbers as `flowplay reproduce` (Rezende & Mohamed 2015, Fig. 3).
//!
//! - [`protocol`]: the messages between the page and the fitting loop (plain Rust);
//! - [`figure_loop`]: the loop, fitting the figure's cells a slice of steps at a time;
//! - [`worker`]: the loop's Web Worker; [`link`]: the page's side, with the page-thread
//!   fallback;
//! - [`view`]: the figure, the status and the table.

#[cfg(target_arch = "wasm32")]
pub mod figure_loop;
#[cfg(target_arch = "wasm32")]
pub mod link;
pub mod protocol;
#[cfg(target_arch = "wasm32")]
pub mod view;
#[cfg(target_arch = "wasm32")]
pub mod worker;
