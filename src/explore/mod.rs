//! Exploring a trained image flow: what the page's image views and the `anomaly`,
//! `interpolate` and `models` commands share, so that both compute the same numbers.
//!
//! - [`scoring`]: bits/dim of each image (deterministic mid-bin dequantisation);
//! - [`complexity`]: the input-complexity correction of Serrà et al. (ICLR 2020);
//! - [`roc`]: ROC curves, AUROC and histograms of two score samples;
//! - [`latent`]: encoding images to the flow's Gaussian latent, decoding latents, straight and
//!   spherical interpolation, class means for latent arithmetic;
//! - [`gallery`]: the index of the models a site serves;
//! - [`classify`]: generative classification with a class-conditional flow (Bayes' rule).

pub mod classify;
pub mod complexity;
pub mod gallery;
pub mod latent;
pub mod roc;
pub mod scoring;
