//! `flowplay interpolate --model M --data mnist-test --a 12 --b 40`: encodes two images with
//! an image flow, walks between their latent codes in a straight line and along the sphere,
//! decodes every frame, and writes both rows as one PNG (straight above, spherical below; the
//! two end images are the reconstructions of the inputs). The page's interpolation view draws
//! the same frames with the same code ([`crate::explore::latent`]).

use std::path::PathBuf;

use clap::Args;

use super::image_io::{load_image_model, load_split, write_grid_png};
use crate::device::{BackendChoice, inference_device};
use crate::explore::latent::{decode, encode, path, reconstruction_error};

#[derive(Args, Debug)]
pub struct InterpolateArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// Data set and split to take the two images from (mnist-test, fashion-mnist-test, …).
    #[arg(long)]
    pub data: String,
    /// Directory with the IDX files (default: the `flowplay data fetch` cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Index of the first image.
    #[arg(long, default_value_t = 0)]
    pub a: usize,
    /// Index of the second image.
    #[arg(long, default_value_t = 1)]
    pub b: usize,
    /// Frames per path, the two ends included.
    #[arg(long, default_value_t = 10)]
    pub frames: usize,
    /// The PNG to write.
    #[arg(long, default_value = "interpolation.png")]
    pub out: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: BackendChoice,
}

pub fn run(a: InterpolateArgs) -> Result<(), String> {
    if !(2..=64).contains(&a.frames) {
        return Err(format!("--frames must be in 2..=64, got {}", a.frames));
    }
    let device = inference_device(a.device)?;
    let (flow, shape) = load_image_model(&a.model, &device)?;
    let set = load_split(&a.data, a.data_dir.as_deref(), None, shape)?;
    for (name, i) in [("--a", a.a), ("--b", a.b)] {
        if i >= set.len() {
            return Err(format!(
                "{name} {i} is past the {} images of {}",
                set.len(),
                a.data
            ));
        }
    }
    let codes = pollster::block_on(encode(&flow, &set, &[a.a, a.b], &device))?;
    let mut frames = path(&codes[0], &codes[1], a.frames, false);
    frames.extend(path(&codes[0], &codes[1], a.frames, true));
    let images = pollster::block_on(decode(&flow, &frames, &device))?;
    // The larger reconstruction error of the two ends against the inputs.
    let end_error = reconstruction_error(&images[0], set.image(a.a))
        .max(reconstruction_error(&images[a.frames - 1], set.image(a.b)));
    write_grid_png(&a.out, &images, shape, a.frames)?;
    println!(
        "{}",
        serde_json::json!({
            "model": a.model.display().to_string(),
            "a": a.a,
            "b": a.b,
            "labels": [set.labels[a.a], set.labels[a.b]],
            "frames": a.frames,
            "end_mean_abs_error": end_error,
            "out": a.out.display().to_string(),
        })
    );
    Ok(())
}
