//! Helpers shared by the image commands: sampling an image flow at a temperature and writing
//! sample grids as PNG, loading a data split for a command line.

use std::path::Path;

use burn::tensor::Device;
use plotters::prelude::*;

use crate::explore::latent::{grid_labels, sample_classes};
use crate::flows::Flow;
use crate::flows::image::ImageShape;
use crate::images::fetch::load;
use crate::images::{ImageSet, parse_dataset_split};
use crate::plot::image_grid::{draw_image_grid, grid_size};
use crate::rng::Rng;

/// Loads an image model: the flow on `device` and its image shape; a 2D model is refused.
pub fn load_image_model(path: &Path, device: &Device) -> Result<(Flow, ImageShape), String> {
    let (flow, meta) = crate::model_file::load(path, device).map_err(|e| e.to_string())?;
    let image = meta
        .image
        .ok_or_else(|| format!("{} is not an image model", path.display()))?;
    Ok((flow, image.shape))
}

/// A data set split named like `mnist-test` (from the `flowplay data fetch` cache, or `dir`),
/// checked against the model's image shape; its first `limit` images when given.
pub fn load_split(
    name: &str,
    dir: Option<&Path>,
    limit: Option<usize>,
    shape: ImageShape,
) -> Result<ImageSet, String> {
    let (dataset, split) = parse_dataset_split(name)?;
    let set = load(dataset, split, dir).map_err(|e| e.to_string())?;
    if set.shape != shape {
        return Err(format!(
            "{name} holds images of shape {}, the model was trained on {shape}",
            set.shape
        ));
    }
    Ok(match limit {
        Some(n) => set.take(n),
        None => set,
    })
}

/// Images decoded per batch when sampling: a batch's activations grow with it, so `-n 100000`
/// would otherwise hold every image's intermediate tensors at once.
pub const SAMPLE_BATCH: usize = 64;

/// The most images one PNG grid holds (a 64×64 grid: 5 MB of pixels for MNIST at 3× scale).
pub const MAX_GRID_IMAGES: usize = 4096;

/// `n` images from `flow` with base noise scaled by `temperature` (Glow's "temperature"
/// sampling), as `[0, 1]` pixel values, channel-major: the page's sampler
/// ([`crate::explore::latent::sample_classes`]) in batches of [`SAMPLE_BATCH`] drawing from one
/// generator, blocking. A class-conditional flow draws the classes `labels` gives (one per
/// image), or rows of 8 per class ([`grid_labels`]) without them.
pub fn sample_images(
    flow: &Flow,
    n: usize,
    temperature: f32,
    labels: Option<&[u8]>,
    seed: u64,
    device: &Device,
) -> Result<Vec<Vec<f32>>, String> {
    let mut rng = Rng::new(seed);
    let mut images = Vec::with_capacity(n);
    while images.len() < n {
        let start = images.len();
        let m = (n - start).min(SAMPLE_BATCH);
        let batch_labels = match labels {
            Some(l) => Some(l[start..start + m].to_vec()),
            None => flow.config().classes().map(|k| grid_labels(start, m, k)),
        };
        let batch = sample_classes(
            flow,
            m,
            temperature,
            batch_labels.as_deref(),
            &mut rng,
            device,
        );
        images.extend(pollster::block_on(batch)?);
    }
    Ok(images)
}

/// Writes `images` of `shape` as a PNG grid (`cols` columns, 3× scale) to `path`, atomically.
pub fn write_grid_png(
    path: &Path,
    images: &[Vec<f32>],
    shape: ImageShape,
    cols: usize,
) -> Result<(), String> {
    let cols = cols.clamp(1, images.len().max(1));
    let scale = 3;
    let size = grid_size(images.len(), (shape.height, shape.width), cols, scale);
    let pending = crate::atomic_file::PendingFile::new(path);
    {
        let root = BitMapBackend::new(pending.path(), size).into_drawing_area();
        draw_image_grid(
            &root,
            images,
            (shape.channels, shape.height, shape.width),
            cols,
            scale,
        )?;
        root.present()
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    pending
        .commit()
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
