//! Checks on an architecture before any layer is built.
//!
//! A `.flow` file's layer list comes from outside (a download, an import in the page, a file
//! damaged on disk), and layer constructors allocate what the numbers ask for and assume what
//! their maths needs (an odd kernel, two channels to split, a slope in (0, 1]). Every layer's
//! configuration passes through its [`check`](super::LayerSpec::check) first (each layer file
//! writes its own, from the helpers and limits here), so a bad number is a named error, never a
//! panic or an allocation the machine cannot make. The limits are far above any model this
//! crate trains (the largest preset has rows of 12 288 values and couplings of width 512).

use super::image::ImageShape;

/// An architecture that cannot be built, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ArchitectureError {
    /// The flow as a whole: its dimension, or an image that the levels cannot divide.
    #[error("{0}")]
    Flow(String),
    /// One layer: a number out of range (as its [`check`](super::LayerSpec::check) names it),
    /// or a dimension that does not fit the base.
    #[error("layer {index} ({name}): {reason}")]
    Layer {
        index: usize,
        name: &'static str,
        reason: String,
    },
}

impl From<ArchitectureError> for String {
    fn from(e: ArchitectureError) -> Self {
        e.to_string()
    }
}

/// Most values in one row (a 3×512×512 image is 786 432).
pub const MAX_DIM: usize = 1 << 20;
/// Largest side of a dense `D×D` matrix a layer may hold or build (naive/LU linear, the
/// self-normalizing and exact FC and conv layers): 16 384² floats are 1 GiB.
pub const MAX_DENSE_DIM: usize = 16_384;
/// Widest conditioner network.
pub const MAX_HIDDEN: usize = 8192;
/// Deepest conditioner network.
pub const MAX_HIDDEN_LAYERS: usize = 16;
/// Most channels of an image layer.
pub const MAX_CHANNELS: usize = 4096;
/// Largest convolution kernel side.
pub const MAX_KERNEL: usize = 15;
/// Most rational-quadratic spline bins.
pub const MAX_BINS: usize = 256;
/// The largest context a conditional layer or base reads (a one-hot class or an observation).
pub const MAX_CONTEXT: usize = 65_536;

pub(crate) fn positive_finite(name: &str, v: f32) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a positive number, got {v}"))
    }
}

pub(crate) fn in_range(name: &str, v: usize, low: usize, high: usize) -> Result<(), String> {
    if (low..=high).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} must be in {low}..={high}, got {v}"))
    }
}

pub(crate) fn dim(name: &str, d: usize) -> Result<(), String> {
    in_range(name, d, 1, MAX_DIM)
}

pub(crate) fn dense(name: &str, d: usize) -> Result<(), String> {
    in_range(name, d, 1, MAX_DENSE_DIM)
}

/// An image shape with sides and channels within the limits and at most [`MAX_DIM`] values.
pub fn shape(s: &ImageShape) -> Result<(), String> {
    in_range("channels", s.channels, 1, MAX_CHANNELS)?;
    in_range("height", s.height, 1, MAX_DIM)?;
    in_range("width", s.width, 1, MAX_DIM)?;
    let d = s
        .channels
        .checked_mul(s.height)
        .and_then(|v| v.checked_mul(s.width))
        .unwrap_or(usize::MAX);
    if d > MAX_DIM {
        return Err(format!(
            "an image of {}×{}×{} has more than {MAX_DIM} values",
            s.channels, s.height, s.width
        ));
    }
    Ok(())
}

pub(crate) fn conditioner(hidden: usize, hidden_layers: usize) -> Result<(), String> {
    in_range("hidden width", hidden, 1, MAX_HIDDEN)?;
    in_range("hidden layers", hidden_layers, 0, MAX_HIDDEN_LAYERS)
}

pub(crate) fn odd_kernel(k: usize) -> Result<(), String> {
    in_range("kernel", k, 1, MAX_KERNEL)?;
    if k.is_multiple_of(2) {
        return Err(format!("kernel must be odd, got {k}"));
    }
    Ok(())
}

/// A convolution whose exact log-det or inverse builds its dense `D×D` matrix: a valid image
/// shape, `D` within [`MAX_DENSE_DIM`], an odd kernel.
pub(crate) fn dense_conv(s: &ImageShape, kernel: usize) -> Result<(), String> {
    shape(s)?;
    dense("image size", s.dim())?;
    odd_kernel(kernel)
}

pub(crate) fn mask(m: &[bool]) -> Result<(), String> {
    dim("mask length", m.len())?;
    if !m.iter().any(|&b| b) || m.iter().all(|&b| b) {
        return Err("the coupling mask must keep some coordinates and transform others".into());
    }
    Ok(())
}

/// Floats in a multilayer perceptron `i → h (→ h)ˡ → o` with biases.
pub(crate) fn mlp(i: u128, h: u128, l: u128, o: u128) -> u128 {
    i * h + h + l * (h * h + h) + h * o + o
}

/// Floats in a `c → c` convolution kernel of side `k`.
pub(crate) fn kernel_floats(c: usize, k: usize) -> u128 {
    (c * c * k * k) as u128
}
