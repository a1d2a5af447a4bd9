//! Checks on an architecture before any layer is built.
//!
//! A `.flow` file's layer list comes from outside (a download, an import in the page, a file
//! damaged on disk), and layer constructors allocate what the numbers ask for and assume what
//! their maths needs (an odd kernel, two channels to split, a slope in (0, 1]). Every
//! [`LayerConfig`] passes through [`check_layer`] first, so a bad number is a named error, never
//! a panic or an allocation the machine cannot make. The limits are far above any model this
//! crate trains (the largest preset has rows of 12 288 values and couplings of width 512).

use super::LayerConfig;
use super::image::ImageShape;

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

fn positive_finite(name: &str, v: f32) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a positive number, got {v}"))
    }
}

fn in_range(name: &str, v: usize, low: usize, high: usize) -> Result<(), String> {
    if (low..=high).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} must be in {low}..={high}, got {v}"))
    }
}

fn dim(name: &str, d: usize) -> Result<(), String> {
    in_range(name, d, 1, MAX_DIM)
}

fn dense(name: &str, d: usize) -> Result<(), String> {
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

fn conditioner(hidden: usize, hidden_layers: usize) -> Result<(), String> {
    in_range("hidden width", hidden, 1, MAX_HIDDEN)?;
    in_range("hidden layers", hidden_layers, 0, MAX_HIDDEN_LAYERS)
}

fn odd_kernel(k: usize) -> Result<(), String> {
    in_range("kernel", k, 1, MAX_KERNEL)?;
    if k.is_multiple_of(2) {
        return Err(format!("kernel must be odd, got {k}"));
    }
    Ok(())
}

fn mask(m: &[bool]) -> Result<(), String> {
    dim("mask length", m.len())?;
    if !m.iter().any(|&b| b) || m.iter().all(|&b| b) {
        return Err("the coupling mask must keep some coordinates and transform others".into());
    }
    Ok(())
}

/// The layer's numbers are within what it can be built from; the error names the first that is
/// not (the caller adds which layer).
pub fn check_layer(layer: &LayerConfig) -> Result<(), String> {
    use LayerConfig as L;
    match layer {
        L::Planar(c) => {
            dim("dim", c.dim)?;
            in_range("inverse iterations", c.inverse_iters, 1, 10_000)
        }
        L::Radial(c) => dim("dim", c.dim),
        L::Coupling(c) => {
            mask(&c.mask)?;
            conditioner(c.hidden, c.hidden_layers)?;
            positive_finite("scale clamp", c.scale_clamp)
        }
        L::Spline(c) => {
            mask(&c.mask)?;
            conditioner(c.hidden, c.hidden_layers)?;
            in_range("bins", c.bins, 2, MAX_BINS)?;
            positive_finite("tail bound", c.tail_bound)
        }
        L::Autoregressive(c) => {
            in_range("dim", c.dim, 2, MAX_DENSE_DIM)?;
            conditioner(c.hidden, c.hidden_layers)?;
            positive_finite("scale clamp", c.scale_clamp)
        }
        L::NaiveLinear(c) => dense("dim", c.dim),
        L::LuLinear(c) => dense("dim", c.dim),
        L::Permutation(c) => {
            dim("permutation length", c.indices.len())?;
            let mut seen = vec![false; c.indices.len()];
            for &i in &c.indices {
                match seen.get_mut(i) {
                    Some(s) if !*s => *s = true,
                    _ => {
                        return Err(format!(
                            "the permutation's indices are not a permutation of 0..{} (index {i})",
                            c.indices.len()
                        ));
                    }
                }
            }
            Ok(())
        }
        L::Tanh(c) => {
            dim("dim", c.low.len())?;
            if c.high.len() != c.low.len() {
                return Err(format!(
                    "the box has {} lower and {} upper bounds",
                    c.low.len(),
                    c.high.len()
                ));
            }
            match c
                .low
                .iter()
                .zip(&c.high)
                .position(|(l, h)| !(l.is_finite() && h.is_finite() && l < h))
            {
                Some(j) => Err(format!(
                    "box coordinate {j}: need finite bounds with low < high, got [{}, {}]",
                    c.low[j], c.high[j]
                )),
                None => Ok(()),
            }
        }
        L::ActNorm(c) => dim("dim", c.dim),
        L::Logit(c) => {
            dim("dim", c.dim)?;
            if (0.0..0.5).contains(&c.alpha) {
                Ok(())
            } else {
                Err(format!("logit alpha must be in [0, 0.5), got {}", c.alpha))
            }
        }
        L::LeakyRelu(c) => {
            dim("dim", c.dim)?;
            if c.slope > 0.0 && c.slope <= 1.0 {
                Ok(())
            } else {
                Err(format!(
                    "leaky ReLU slope must be in (0, 1], got {}",
                    c.slope
                ))
            }
        }
        L::ActNorm2d(c) => shape(&c.shape),
        L::Conv1x1(c) => shape(&c.shape),
        L::GlowCoupling(c) => {
            shape(&c.shape)?;
            in_range("coupling channels", c.shape.channels, 2, MAX_CHANNELS)?;
            in_range("hidden width", c.hidden, 1, MAX_HIDDEN)
        }
        L::Squeeze(c) => {
            shape(&c.shape)?;
            if !c.shape.height.is_multiple_of(2) || !c.shape.width.is_multiple_of(2) {
                return Err(format!(
                    "a 2×2 squeeze needs even sides, got {}×{}",
                    c.shape.height, c.shape.width
                ));
            }
            in_range("squeezed channels", c.shape.channels * 4, 4, MAX_CHANNELS)
        }
        L::SplitPrior(c) => {
            shape(&c.shape)?;
            in_range("split channels", c.shape.channels, 2, MAX_CHANNELS)
        }
        L::SelfNormLinear(c) => dense("dim", c.dim),
        L::SelfNormConv(c) => {
            shape(&c.shape)?;
            dense("image size", c.shape.dim())?;
            odd_kernel(c.kernel)
        }
        L::EmergingConv(c) => {
            shape(&c.shape)?;
            dense("image size", c.shape.dim())?;
            odd_kernel(c.kernel)
        }
        L::ConvExp(c) => {
            shape(&c.shape)?;
            odd_kernel(c.kernel)?;
            in_range("series terms", c.terms, 1, 100)?;
            positive_finite("norm bound", c.norm_bound)
        }
    }
}

/// Floats in a multilayer perceptron `i → h (→ h)ˡ → o` with biases.
fn mlp(i: u128, h: u128, l: u128, o: u128) -> u128 {
    i * h + h + l * (h * h + h) + h * o + o
}

/// An upper bound on the floats building `layer` allocates (parameters, masks and the
/// temporaries of its initialisation), from its numbers alone. The loader compares it with the
/// weights a file actually holds before building anything, so a layer list that asks for far
/// more than the file carries is refused instead of allocated. Call after [`check_layer`].
pub fn allocation_bound(layer: &LayerConfig) -> u128 {
    use LayerConfig as L;
    let kernel_floats = |c: usize, k: usize| (c * c * k * k) as u128;
    match layer {
        L::Planar(c) => 3 * c.dim as u128 + 1,
        L::Radial(c) => 2 * c.dim as u128 + 2,
        L::Coupling(c) => {
            let d = c.mask.len() as u128;
            let out = if c.additive { d } else { 2 * d };
            mlp(d, c.hidden as u128, c.hidden_layers as u128, out) + d
        }
        L::Spline(c) => {
            let d = c.mask.len() as u128;
            let out = d * (3 * c.bins as u128 - 1);
            mlp(d, c.hidden as u128, c.hidden_layers as u128, out) + d
        }
        // Weights and their masks.
        L::Autoregressive(c) => {
            let d = c.dim as u128;
            2 * mlp(d, c.hidden as u128, c.hidden_layers as u128, 2 * d)
        }
        L::NaiveLinear(c) => 3 * (c.dim as u128).pow(2) + c.dim as u128,
        L::LuLinear(c) => 3 * (c.dim as u128).pow(2) + 2 * c.dim as u128,
        L::Permutation(c) => 2 * c.indices.len() as u128,
        L::Tanh(c) => 2 * c.low.len() as u128,
        L::ActNorm(c) => 2 * c.dim as u128,
        L::Logit(_) | L::LeakyRelu(_) | L::Squeeze(_) => 0,
        L::ActNorm2d(c) => 2 * c.shape.channels as u128,
        L::Conv1x1(c) => 3 * (c.shape.channels as u128).pow(2) + 2 * c.shape.channels as u128,
        L::GlowCoupling(c) => {
            let ch = c.shape.channels;
            let ca = ch.div_ceil(2) as u128;
            let out = 2 * (ch as u128 - ca);
            let h = c.hidden as u128;
            9 * ca * h + h + h * h + h + 9 * h * out + out
        }
        L::SplitPrior(c) => {
            let ch = c.shape.channels;
            let ca = ch.div_ceil(2) as u128;
            let out = 2 * (ch as u128 - ca);
            9 * ca * out + out
        }
        L::SelfNormLinear(c) => 4 * (c.dim as u128).pow(2) + c.dim as u128,
        L::SelfNormConv(c) => {
            4 * kernel_floats(c.shape.channels, c.kernel) + c.shape.channels as u128
        }
        L::EmergingConv(c) => {
            8 * kernel_floats(c.shape.channels, c.kernel) + c.shape.channels as u128
        }
        L::ConvExp(c) => 2 * kernel_floats(c.shape.channels, c.kernel) + c.shape.channels as u128,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{conv_exp, glow_coupling, leaky_relu, permutation, spline, squeeze};

    fn err(layer: LayerConfig) -> String {
        check_layer(&layer).expect_err("refused")
    }

    #[test]
    fn each_bad_number_is_named() {
        let s = ImageShape::new(1, 28, 28);
        let e = err(LayerConfig::ConvExp(
            conv_exp::ConvExpConfig::new(s).with_kernel(4),
        ));
        assert!(e.contains("kernel must be odd, got 4"), "{e}");
        let e = err(LayerConfig::GlowCoupling(
            glow_coupling::GlowCouplingConfig::new(s).with_hidden(48),
        ));
        assert!(e.contains("coupling channels"), "{e}");
        let e = err(LayerConfig::Squeeze(squeeze::SqueezeConfig::new(
            ImageShape::new(1, 7, 7),
        )));
        assert!(e.contains("even sides, got 7×7"), "{e}");
        let e = err(LayerConfig::LeakyRelu(
            leaky_relu::LeakyReluConfig::new(4).with_slope(0.0),
        ));
        assert!(e.contains("slope"), "{e}");
        let e = err(LayerConfig::Permutation(permutation::PermutationConfig {
            indices: vec![0, 2, 2],
        }));
        assert!(e.contains("not a permutation"), "{e}");
        let e = err(LayerConfig::Squeeze(squeeze::SqueezeConfig::new(
            ImageShape::new(usize::MAX / 2, 4, 4),
        )));
        assert!(e.contains("channels"), "{e}");
        let e = err(LayerConfig::ActNorm2d(
            crate::flows::actnorm2d::ActNorm2dConfig::new(ImageShape::new(3, 1 << 19, 1 << 19)),
        ));
        assert!(e.contains("more than"), "{e}");
        let mut sp = spline::SplineCouplingConfig::new(vec![true, false]);
        sp.bins = 1;
        assert!(err(LayerConfig::Spline(sp)).contains("bins must be in 2..=256, got 1"));
    }
}
