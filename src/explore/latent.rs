//! The flow's latent space as a place to move images around (Kingma & Dhariwal 2018, Glow,
//! arXiv:1807.03039, §5: interpolation and semantic manipulation in `z`).
//!
//! Encoding is the data → noise direction `z = f(x)` of the image at its bin centres
//! (`x = (k + ½)/256`); for a multiscale flow `z` holds every level's factored-out part, each
//! standard normal under the model. Decoding is `x = f⁻¹(z)`, clamped to `[0, 1]`.
//!
//! - straight interpolation `z(t) = (1 − t)·a + t·b`;
//! - spherical interpolation `z(t) = sin((1 − t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b`, `Ω` the angle
//!   between `a` and `b` (Shoemake 1985; White 2016, arXiv:1609.04468): for Gaussian latents in
//!   high dimension it keeps the path near the shell where the probability mass lies, where
//!   the straight path dips towards the mode and yields blurry middle frames;
//! - latent arithmetic: `z' = z + α·(μ_target − μ_source)` with `μ_c` the mean code of class `c`.
//!
//! # Shapes
//! A code is `D` values (`D = c·h·w`); images come back as `D` values in `[0, 1]`, channel-major.

use burn::tensor::{Device, Tensor, TensorData};

use crate::flows::Flow;
use crate::images::{ImageSet, dequantize_batch};
use crate::readback::{ReadbackError, to_host_async};

/// Latent codes of images `indices` of `set`.
pub async fn encode(
    flow: &Flow,
    set: &ImageSet,
    indices: &[usize],
    device: &Device,
) -> Result<Vec<Vec<f32>>, ReadbackError> {
    let d = set.shape.dim();
    let x = dequantize_batch(set, indices, None, device);
    let (z, _) = flow.transform_to_noise(x);
    let z: Vec<f32> = to_host_async(z).await?;
    Ok(z.chunks(d).map(<[f32]>::to_vec).collect())
}

/// Images (values in `[0, 1]`) decoded from latent codes of `flow.dim()` values each.
pub async fn decode(
    flow: &Flow,
    codes: &[Vec<f32>],
    device: &Device,
) -> Result<Vec<Vec<f32>>, ReadbackError> {
    let d = flow.dim();
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(bad) = codes.iter().find(|c| c.len() != d) {
        return Err(ReadbackError(format!(
            "a latent code has {} values, the flow {d}",
            bad.len()
        )));
    }
    let flat: Vec<f32> = codes.iter().flatten().copied().collect();
    let z = Tensor::<2>::from_data(TensorData::new(flat, [codes.len(), d]), device);
    let (x, _) = flow.inverse(z);
    to_images(x).await
}

/// Image `index` of a subset of `n`, clamped to the last one; an error when the subset is
/// empty (a data file with no images), for the views that pick images by index.
pub fn pick(index: usize, n: usize) -> Result<usize, String> {
    match n {
        0 => Err("the image subset is empty: there is no image to pick".into()),
        _ => Ok(index.min(n - 1)),
    }
}

/// `n` images sampled at `temperature`: base noise `T·ε` drawn from `rng`, decoded by `f⁻¹`
/// ([`Flow::sample_at_temperature`]), values in `[0, 1]`. A class-conditional flow draws
/// [`grid_labels`]: rows of 8 images per class, classes 0, 1, 2, … in turn.
pub async fn sample(
    flow: &Flow,
    n: usize,
    temperature: f32,
    rng: &mut crate::rng::Rng,
    device: &Device,
) -> Result<Vec<Vec<f32>>, ReadbackError> {
    let labels = flow.config().classes().map(|k| grid_labels(0, n, k));
    sample_classes(flow, n, temperature, labels.as_deref(), rng, device).await
}

/// The labels of images `start .. start + n` of a class-conditional sample grid: image `i` is
/// of class `(i / 8) mod K` (a row of 8 per class).
pub fn grid_labels(start: usize, n: usize, k: usize) -> Vec<u8> {
    (start..start + n)
        .map(|i| ((i / 8) % k.max(1)) as u8)
        .collect()
}

/// `n` images sampled at `temperature`, image `i` of class `labels[i]` when the flow is
/// class-conditional (`labels` has `n` entries; `None`: unconditional).
pub async fn sample_classes(
    flow: &Flow,
    n: usize,
    temperature: f32,
    labels: Option<&[u8]>,
    rng: &mut crate::rng::Rng,
    device: &Device,
) -> Result<Vec<Vec<f32>>, ReadbackError> {
    let context = match (flow.config().classes(), labels) {
        (Some(k), Some(l)) => Some(crate::images::labels::one_hot(l, k, device)),
        _ => None,
    };
    let (x, _) = flow.sample_at_temperature_given(n, temperature, context.as_ref(), rng, device);
    to_images(x).await
}

/// Rows `x [n, D]` as `n` images with values clamped to `[0, 1]`.
async fn to_images(x: Tensor<2>) -> Result<Vec<Vec<f32>>, ReadbackError> {
    let [_, d] = x.dims();
    let x: Vec<f32> = to_host_async(x.clamp(0.0, 1.0)).await?;
    Ok(x.chunks(d).map(<[f32]>::to_vec).collect())
}

/// Mean `|x − (k + ½)/256|` of a decoded image `x` against the 8-bit image `k` it encodes (bin
/// centres): how well encoding then decoding gives an image back.
pub fn reconstruction_error(decoded: &[f32], pixels: &[u8]) -> f64 {
    decoded
        .iter()
        .zip(pixels)
        .map(|(v, &k)| (v - (k as f32 + 0.5) / 256.0).abs() as f64)
        .sum::<f64>()
        / pixels.len().max(1) as f64
}

/// `(1 − t)·a + t·b`.
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter()
        .zip(b)
        .map(|(x, y)| (1.0 - t) * x + t * y)
        .collect()
}

/// Spherical interpolation from `a` (`t = 0`) to `b` (`t = 1`); the straight line when the two
/// are (nearly) parallel or one is zero.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return lerp(a, b, t);
    }
    let omega = (dot / (na * nb)).clamp(-1.0, 1.0).acos();
    let s = omega.sin();
    if s < 1e-6 {
        return lerp(a, b, t);
    }
    let t = t as f64;
    let (wa, wb) = (((1.0 - t) * omega).sin() / s, (t * omega).sin() / s);
    a.iter()
        .zip(b)
        .map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32)
        .collect()
}

/// `frames` codes from `a` to `b` inclusive (`t = k/(frames − 1)`), straight or spherical.
pub fn path(a: &[f32], b: &[f32], frames: usize, spherical: bool) -> Vec<Vec<f32>> {
    let frames = frames.max(2);
    (0..frames)
        .map(|k| {
            let t = k as f32 / (frames - 1) as f32;
            if spherical {
                slerp(a, b, t)
            } else {
                lerp(a, b, t)
            }
        })
        .collect()
}

/// The mean code of each label `0..classes` (`None` for a label with no image).
pub fn class_means(codes: &[Vec<f32>], labels: &[u8], classes: usize) -> Vec<Option<Vec<f32>>> {
    let d = codes.first().map_or(0, Vec::len);
    let mut sums = vec![vec![0.0f64; d]; classes];
    let mut counts = vec![0usize; classes];
    for (code, &label) in codes.iter().zip(labels) {
        let c = label as usize;
        if c < classes {
            counts[c] += 1;
            for (s, v) in sums[c].iter_mut().zip(code) {
                *s += *v as f64;
            }
        }
    }
    sums.into_iter()
        .zip(counts)
        .map(|(s, n)| (n > 0).then(|| s.iter().map(|v| (v / n as f64) as f32).collect()))
        .collect()
}

/// `z + α·(to − from)`: the code moved along the direction between two class means.
pub fn shift(z: &[f32], from: &[f32], to: &[f32], alpha: f32) -> Vec<f32> {
    z.iter()
        .zip(from.iter().zip(to))
        .map(|(v, (f, t))| v + alpha * (t - f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_paths_start_and_end_at_the_codes_and_slerp_keeps_the_norm() {
        let a = vec![1.0f32, 0.0, 0.0];
        let b = vec![0.0f32, 1.0, 0.0];
        for spherical in [false, true] {
            let p = path(&a, &b, 5, spherical);
            assert_eq!(p.len(), 5);
            assert!(p[0].iter().zip(&a).all(|(x, y)| (x - y).abs() < 1e-6));
            assert!(p[4].iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
        }
        let mid = slerp(&a, &b, 0.5);
        let norm = mid.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "{norm}");
        let straight = lerp(&a, &b, 0.5);
        assert!(straight.iter().map(|v| v * v).sum::<f32>().sqrt() < 0.75);
        assert_eq!(slerp(&a, &a, 0.3), lerp(&a, &a, 0.3));
    }

    #[test]
    fn pick_clamps_and_refuses_an_empty_subset() {
        assert_eq!(pick(3, 10), Ok(3));
        assert_eq!(pick(40, 10), Ok(9));
        assert!(pick(0, 0).unwrap_err().contains("empty"));
    }

    #[test]
    fn class_means_and_shifts() {
        let codes = vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![10.0, 0.0]];
        let means = class_means(&codes, &[0, 0, 2], 3);
        assert_eq!(means[0], Some(vec![2.0, 3.0]));
        assert_eq!(means[1], None);
        assert_eq!(means[2], Some(vec![10.0, 0.0]));
        assert_eq!(
            shift(&[1.0, 1.0], &[2.0, 3.0], &[10.0, 0.0], 0.5),
            vec![5.0, -0.5]
        );
    }

    /// Encoding then decoding an image gives it back (bin centres), through a multiscale Glow.
    #[test]
    fn decode_undoes_encode_through_a_glow() {
        use crate::flows::image::ImageShape;
        use crate::flows::multiscale::{ImageFlowSpec, Mixer, glow};
        let device = crate::device::cpu();
        let shape = ImageShape::new(1, 8, 8);
        let spec = ImageFlowSpec::new(shape, 2, 2, 8, Mixer::Conv1x1Lu);
        let flow = glow(&spec).unwrap().init(&device);
        let mut rng = crate::rng::Rng::new(4);
        let pixels: Vec<u8> = (0..3 * 64).map(|_| (rng.uniform() * 256.0) as u8).collect();
        let set = ImageSet {
            shape,
            pixels,
            labels: vec![0, 1, 2],
        };
        let codes = pollster::block_on(encode(&flow, &set, &[0, 1, 2], &device)).unwrap();
        assert_eq!(codes.len(), 3);
        let back = pollster::block_on(decode(&flow, &codes, &device)).unwrap();
        for (i, img) in back.iter().enumerate() {
            for (j, &v) in img.iter().enumerate() {
                let want = (set.image(i)[j] as f32 + 0.5) / 256.0;
                assert!(
                    (v - want).abs() < 1e-3,
                    "image {i} pixel {j}: {v} vs {want}"
                );
            }
            assert!(reconstruction_error(img, set.image(i)) < 1e-3);
        }
        let blank = vec![0.0f32; 64];
        let expected = set
            .image(0)
            .iter()
            .map(|&k| (k as f64 + 0.5) / 256.0)
            .sum::<f64>()
            / 64.0;
        assert!((reconstruction_error(&blank, set.image(0)) - expected).abs() < 1e-6);
        let err = pollster::block_on(decode(&flow, &[vec![0.0; 3]], &device)).unwrap_err();
        assert!(err.to_string().contains("3 values"), "{err}");
    }
}
