//! A folder of your own images as an image data set: every `.png`, `.jpg` and `.jpeg` file in
//! it (not its subfolders), in name order, decoded to 8-bit grey or RGB as the model wants
//! (grey from colour by the Rec. 601 luma `0.299 R + 0.587 G + 0.114 B`; colour from grey by
//! repeating it; alpha dropped), and either all of the model's size already or, with `resize`,
//! each scaled to it by area averaging (box filter). Problems are named with the file: a
//! folder without images, a file that does not decode, images of another size (or of mixed
//! sizes) without `resize`. Labels are all 0.

use std::path::{Path, PathBuf};

use super::{DataError, ImageSet};
use crate::flows::image::ImageShape;

/// One decoded image: `channels` (1 or 3) interleaved 8-bit samples, row after row.
struct Decoded {
    width: usize,
    height: usize,
    channels: usize,
    samples: Vec<u8>,
}

/// The image files of `dir`, sorted by name.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DataError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DataError::Missing(format!(
            "{} holds no PNG or JPEG images",
            dir.display()
        )));
    }
    Ok(files)
}

fn format_error(path: &Path, reason: impl std::fmt::Display) -> DataError {
    DataError::Format {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn decode_png(path: &Path, bytes: &[u8]) -> Result<Decoded, DataError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // Palette and 16-bit images come out as 8-bit grey or RGB(A).
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format_error(path, e))?;
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .ok_or_else(|| format_error(path, "too large"))?
    ];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format_error(path, e))?;
    let stride = info.color_type.samples();
    let keep = if stride >= 3 { 3 } else { 1 };
    let samples = buf[..info.buffer_size()]
        .chunks(stride)
        .flat_map(|px| px[..keep].to_vec())
        .collect();
    Ok(Decoded {
        width: info.width as usize,
        height: info.height as usize,
        channels: keep,
        samples,
    })
}

fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<Decoded, DataError> {
    let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
    let pixels = decoder.decode().map_err(|e| format_error(path, e))?;
    let info = decoder
        .info()
        .ok_or_else(|| format_error(path, "no image header"))?;
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        other => {
            return Err(format_error(
                path,
                format!("unsupported JPEG pixels {other:?}"),
            ));
        }
    };
    Ok(Decoded {
        width: info.width as usize,
        height: info.height as usize,
        channels,
        samples: pixels,
    })
}

/// The image's planes in the wanted number of channels, `[c][y][x]` flattened.
fn planes(d: &Decoded, channels: usize) -> Vec<f64> {
    let n = d.width * d.height;
    let at = |i: usize, k: usize| d.samples[i * d.channels + k] as f64;
    match (d.channels, channels) {
        (3, 1) => (0..n)
            .map(|i| 0.299 * at(i, 0) + 0.587 * at(i, 1) + 0.114 * at(i, 2))
            .collect(),
        (1, c) => (0..c).flat_map(|_| (0..n).map(|i| at(i, 0))).collect(),
        (_, c) => (0..c).flat_map(|k| (0..n).map(move |i| at(i, k))).collect(),
    }
}

/// Area-averaging resize of one `h × w` plane to `to_h × to_w`: each output pixel is the mean
/// of the source area it covers (fractional overlaps weighted).
fn resize_plane(plane: &[f64], (h, w): (usize, usize), (to_h, to_w): (usize, usize)) -> Vec<f64> {
    let spans = |from: usize, to: usize| -> Vec<Vec<(usize, f64)>> {
        let scale = from as f64 / to as f64;
        (0..to)
            .map(|o| {
                let (a, b) = (o as f64 * scale, (o + 1) as f64 * scale);
                (a.floor() as usize..(b.ceil() as usize).min(from))
                    .map(|i| (i, (b.min(i as f64 + 1.0) - a.max(i as f64)) / scale))
                    .filter(|&(_, wgt)| wgt > 0.0)
                    .collect()
            })
            .collect()
    };
    let (rows, cols) = (spans(h, to_h), spans(w, to_w));
    let mut out = Vec::with_capacity(to_h * to_w);
    for r in &rows {
        for c in &cols {
            let mut v = 0.0;
            for &(y, wy) in r {
                for &(x, wx) in c {
                    v += wy * wx * plane[y * w + x];
                }
            }
            out.push(v);
        }
    }
    out
}

/// Every image of `dir` as `shape`-sized 8-bit images (see the module doc).
pub fn load_folder(dir: &Path, shape: ImageShape, resize: bool) -> Result<ImageSet, DataError> {
    let files = image_files(dir)?;
    let mut pixels = Vec::with_capacity(files.len() * shape.dim());
    let mut first: Option<(PathBuf, usize, usize)> = None;
    for path in &files {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let is_png = bytes.starts_with(b"\x89PNG");
        let d = if is_png {
            decode_png(path, &bytes)?
        } else {
            decode_jpeg(path, &bytes)?
        };
        let size = (d.height, d.width);
        if !resize {
            if let Some((f, h, w)) = &first
                && (*h, *w) != size
            {
                return Err(format_error(
                    path,
                    format!(
                        "{}×{} pixels, but {} is {h}×{w}: the images differ in size (pass --resize to scale each to {}×{})",
                        d.height,
                        d.width,
                        f.display(),
                        shape.height,
                        shape.width
                    ),
                ));
            }
            if size != (shape.height, shape.width) {
                return Err(format_error(
                    path,
                    format!(
                        "{}×{} pixels, but the model takes {}×{} (pass --resize to scale the images)",
                        d.height, d.width, shape.height, shape.width
                    ),
                ));
            }
        }
        first.get_or_insert((path.clone(), d.height, d.width));
        let planes = planes(&d, shape.channels);
        for plane in planes.chunks(d.width * d.height) {
            let plane = if size == (shape.height, shape.width) {
                plane.to_vec()
            } else {
                resize_plane(plane, size, (shape.height, shape.width))
            };
            pixels.extend(plane.iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    Ok(ImageSet {
        shape,
        pixels,
        labels: vec![0; files.len()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Averaging 2×2 blocks halves a plane exactly; a 3 → 2 resize weights the shared middle
    /// pixel half to each side; a constant stays constant at any scale.
    #[test]
    fn area_resize_averages_what_each_output_pixel_covers() {
        let plane = [
            0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0, 24.0, 26.0, 28.0,
            30.0,
        ];
        assert_eq!(
            resize_plane(&plane, (4, 4), (2, 2)),
            vec![5.0, 9.0, 21.0, 25.0]
        );
        let row = resize_plane(&[0.0, 3.0, 6.0], (1, 3), (1, 2));
        assert!(
            (row[0] - 1.0).abs() < 1e-12 && (row[1] - 5.0).abs() < 1e-12,
            "{row:?}"
        );
        let up = resize_plane(&[7.0; 6], (2, 3), (5, 7));
        assert!(up.iter().all(|v| (v - 7.0).abs() < 1e-12));
    }
}
