//! What every mode of the page shares: the URL contract ([`url`], plain Rust, one section per
//! mode), and in the browser the page-wide context ([`context`]), which build runs ([`boot`])
//! and on which backend ([`backend`]), the clock ([`host`]), files in and out ([`files`]),
//! canvases ([`canvas`]) and starting a worker on the page's module ([`worker`]).

pub mod url;

#[cfg(target_arch = "wasm32")]
pub mod backend;
#[cfg(target_arch = "wasm32")]
pub mod boot;
#[cfg(target_arch = "wasm32")]
pub mod canvas;
#[cfg(target_arch = "wasm32")]
pub mod context;
#[cfg(target_arch = "wasm32")]
pub mod files;
#[cfg(target_arch = "wasm32")]
pub mod host;
#[cfg(target_arch = "wasm32")]
pub mod worker;
