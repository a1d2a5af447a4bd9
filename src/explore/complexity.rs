//! The input-complexity correction of likelihood scores (Serrà, Álvarez, Gómez, Slizovskaia,
//! Núñez & Luque, ICLR 2020, "Input complexity and out-of-distribution detection with
//! likelihood-based generative models", arXiv:1909.11480).
//!
//! Likelihood models rate simple images as likely whatever they were trained on (a Fashion-MNIST
//! flow gives MNIST digits more likelihood than its own garments). The paper's score subtracts
//! the image's complexity, measured as the length of a lossless compression:
//! `S(x) = −log₂ p(x) − L(x)`, with `L(x)` the bits of the PNG encoding of the 8-bit image (the
//! paper's best general-purpose compressor was FLIF; PNG is what every browser and this crate
//! have). Per dimension: `S/D = bpd(x) − 8 − L(x)/D` (the `8` undoes the dequantisation offset
//! of bits/dim and does not change any ranking; nor do the PNG format's ≈ 57 bytes of fixed
//! headers, the same for every image of one shape). Higher means more anomalous.
//!
//! # Shapes
//! An image is `c·h·w` bytes, channel-major; `c` is 1 (grey) or 3 (RGB).

use crate::flows::image::ImageShape;

/// Bits of the PNG encoding (high compression, adaptive filters) of an 8-bit image.
pub fn png_bits(pixels: &[u8], shape: ImageShape) -> u64 {
    let (w, h) = (shape.width as u32, shape.height as u32);
    let (color, data) = match shape.channels {
        1 => (png::ColorType::Grayscale, pixels.to_vec()),
        3 => {
            // Channel-major → interleaved RGB.
            let plane = shape.height * shape.width;
            let rgb = (0..plane)
                .flat_map(|i| (0..3).map(move |c| pixels[c * plane + i]))
                .collect();
            (png::ColorType::Rgb, rgb)
        }
        c => {
            // Any other channel count: one grey plane per channel, stacked vertically.
            let mut enc_shape = shape;
            enc_shape.channels = 1;
            enc_shape.height *= c;
            return png_bits(pixels, enc_shape);
        }
    };
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        encoder.set_filter(png::Filter::Adaptive);
        let mut writer = encoder.write_header().expect("PNG header into memory");
        writer
            .write_image_data(&data)
            .expect("PNG data into memory");
    }
    8 * out.len() as u64
}

/// The complexity-corrected score per dimension, `bpd − 8 − L(x)/D`.
pub fn corrected_score(bits_per_dim: f64, pixels: &[u8], shape: ImageShape) -> f64 {
    bits_per_dim - 8.0 - png_bits(pixels, shape) as f64 / shape.dim() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_image_costs_more_bits_than_a_blank_one() {
        let shape = ImageShape::new(1, 28, 28);
        let blank = vec![0u8; 784];
        let mut rng = crate::rng::Rng::new(3);
        let noise: Vec<u8> = (0..784).map(|_| (rng.uniform() * 256.0) as u8).collect();
        let (lb, ln) = (png_bits(&blank, shape), png_bits(&noise, shape));
        // Noise does not compress: close to 8 bits per pixel plus the PNG overhead.
        assert!(
            ln > 784 * 7 && ln > 8 * lb,
            "blank {lb} bits, noise {ln} bits"
        );
        // At the same likelihood the simpler image is the more suspicious one: any model finds
        // simple images likely, so a simple image that is not likely stands out.
        assert!(corrected_score(2.0, &blank, shape) > corrected_score(2.0, &noise, shape));
        let rgb = ImageShape::new(3, 4, 4);
        assert!(png_bits(&[7u8; 48], rgb) > 0);
    }
}
