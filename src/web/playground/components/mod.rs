//! The playground's views, one file each; they read the [`super::state::Page`] context and talk
//! to the run only through `Page::send` and the file actions.

pub mod controls;
pub mod drawpad;
pub mod model_files;
pub mod plots;
pub mod scrubber;
pub mod share;
pub mod status;
