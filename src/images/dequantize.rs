//! Uniform dequantisation and bits per dimension (Theis, van den Oord & Bethge 2016,
//! arXiv:1511.01844; the convention of RealNVP/Glow/SNF).
//!
//! An 8-bit pixel `k ∈ {0..255}` becomes `x = (k + u) / 256` with `u ~ U(0, 1)`, so a density
//! `p` on the unit cube `[0, 1]^D` bounds the discrete log-likelihood:
//! `−log₂ P(k) ≤ −log₂ p(x) + D·8` in expectation. Bits per dimension
//! `bpd = (−log p(x) / ln 2) / D + 8`, and the negative log-likelihood in nats of the discrete
//! image (SNF's tables) is `bpd · D · ln 2 = −log p(x) + D ln 256`.

use burn::tensor::{Device, Tensor, TensorData};

use super::ImageSet;
use crate::rng::Rng;

/// The bits/dim of one image from `log p(x)` of its dequantised version on the unit cube.
pub fn bits_per_dim(log_p: f64, dim: usize) -> f64 {
    -log_p / (dim as f64 * std::f64::consts::LN_2) + 8.0
}

/// The discrete negative log-likelihood in nats from bits/dim.
pub fn nll_nats_from_bpd(bpd: f64, dim: usize) -> f64 {
    bpd * dim as f64 * std::f64::consts::LN_2
}

/// Images `indices` of `set`, dequantised with fresh uniform noise, as `[n, D]` on `device`.
/// With `rng = None` the noise is replaced by ½ (the centre of each bin; deterministic).
pub fn dequantize_batch(
    set: &ImageSet,
    indices: &[usize],
    rng: Option<&mut Rng>,
    device: &Device,
) -> Tensor<2> {
    let d = set.shape.dim();
    let mut values = Vec::with_capacity(indices.len() * d);
    match rng {
        Some(rng) => {
            for &i in indices {
                values.extend(
                    set.image(i)
                        .iter()
                        .map(|&k| ((k as f64 + rng.uniform()) / 256.0) as f32),
                );
            }
        }
        None => {
            for &i in indices {
                values.extend(set.image(i).iter().map(|&k| (k as f32 + 0.5) / 256.0));
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [indices.len(), d]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The uniform density on the cube (log p = 0) is exactly 8 bits/dim; a density twice as
    /// high everywhere saves exactly one bit over the whole image.
    #[test]
    fn bits_per_dim_follows_the_definition() {
        assert_eq!(bits_per_dim(0.0, 784), 8.0);
        let one_bit = std::f64::consts::LN_2;
        assert!((bits_per_dim(one_bit * 784.0, 784) - 7.0).abs() < 1e-12);
        // SNF/Glow anchor: 1.06 bits/dim on MNIST ≈ 576 nats.
        assert!((nll_nats_from_bpd(1.06, 784) - 576.0).abs() < 1.0);
    }

    #[test]
    fn dequantised_pixels_stay_in_their_bins() {
        let set = ImageSet {
            shape: crate::flows::image::ImageShape::new(1, 1, 3),
            pixels: vec![0, 128, 255],
            labels: vec![0],
        };
        let device = crate::device::cpu();
        let mut rng = Rng::new(1);
        for _ in 0..20 {
            let x = dequantize_batch(&set, &[0], Some(&mut rng), &device);
            let v = x.into_data().try_to_vec::<f32>().unwrap();
            for (k, x) in [0u8, 128, 255].iter().zip(v) {
                assert!(x >= *k as f32 / 256.0 && x <= (*k as f32 + 1.0) / 256.0);
            }
        }
    }
}
