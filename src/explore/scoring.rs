//! Bits per dimension of individual images under an image flow, the likelihood score of
//! anomaly detection.
//!
//! Each 8-bit pixel `k` is placed at the centre of its bin, `x = (k + ½)/256` (no dequantisation
//! noise), so a score is a deterministic function of the image and the model: the page and the
//! CLI give the same number for the same image. `bpd(x) = −log₂ p(x) / D + 8`
//! ([`crate::images::bits_per_dim`]); higher means less likely.
//!
//! # Shapes
//! A chunk of `n` images is scored as one `[n, D]` batch; scores come back as `n` values.

use burn::tensor::Device;

use crate::flows::Flow;
use crate::images::{ImageSet, bits_per_dim, dequantize_batch};
use crate::readback::{ReadbackError, to_host_async};

/// Images per batch when scoring many.
pub const SCORE_CHUNK: usize = 100;

/// Bits/dim of images `indices` of `set` (asynchronous readback: works on the page's WebGPU
/// device as well as natively).
pub async fn bits_per_dim_of(
    flow: &Flow,
    set: &ImageSet,
    indices: &[usize],
    device: &Device,
) -> Result<Vec<f64>, ReadbackError> {
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    let d = set.shape.dim();
    let x = dequantize_batch(set, indices, None, device);
    let log_p = to_host_async::<f64, 1>(flow.log_prob(x)).await?;
    Ok(log_p.into_iter().map(|lp| bits_per_dim(lp, d)).collect())
}

/// Bits/dim of every image of `set`, in chunks of [`SCORE_CHUNK`] (blocking; native).
pub fn bits_per_dim_all(
    flow: &Flow,
    set: &ImageSet,
    device: &Device,
) -> Result<Vec<f64>, ReadbackError> {
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut out = Vec::with_capacity(set.len());
    for chunk in indices.chunks(SCORE_CHUNK) {
        out.extend(pollster::block_on(bits_per_dim_of(
            flow, set, chunk, device,
        ))?);
    }
    Ok(out)
}
