//! The IDX format of MNIST and Fashion-MNIST (LeCun et al., yann.lecun.com/exdb/mnist):
//! a big-endian header `0x00 0x00 <type> <ndim>`, `ndim` big-endian `u32` sizes, then the data.
//! Images are type `0x08` (u8) with 3 dimensions `[n, rows, cols]`, labels u8 with 1 dimension.
//! Gzipped files (magic `1f 8b`) are decompressed transparently.

use std::io::Read;
use std::path::Path;

use super::{DataError, ImageSet};
use crate::flows::image::ImageShape;

/// Reads a whole file, gunzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    gunzip_if_gz(raw).map_err(|reason| DataError::Format {
        path: path.display().to_string(),
        reason,
    })
}

/// The most bytes a gzip data file may expand to: 4× the largest real one (MNIST's 60 000
/// training images, 47 MB), so a small file that claims to hold gigabytes (a "zip bomb") is
/// refused instead of filling the memory.
pub const MAX_GUNZIPPED_BYTES: u64 = 192 << 20;

/// `raw` decompressed when it starts with the gzip magic, else unchanged.
pub fn gunzip_if_gz(raw: Vec<u8>) -> Result<Vec<u8>, String> {
    gunzip_capped(raw, MAX_GUNZIPPED_BYTES)
}

/// [`gunzip_if_gz`] with the cap `max` on the decompressed size.
pub fn gunzip_capped(raw: Vec<u8>, max: u64) -> Result<Vec<u8>, String> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt gzip stream ({e})"))?;
    if out.len() as u64 > max {
        return Err(format!(
            "the gzip stream expands to more than {max} bytes, more than any data file this reads"
        ));
    }
    Ok(out)
}

/// Parses IDX bytes of unsigned bytes: `(dimensions, data)`.
pub fn parse_u8(bytes: &[u8], what: &str) -> Result<(Vec<usize>, Vec<u8>), String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes is too short for an IDX header ({what})",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "not an IDX file ({what}): it starts with {:02x} {:02x}, expected 00 00",
            bytes[0], bytes[1]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "IDX element type 0x{:02x} ({what}): only unsigned bytes (0x08) are supported",
            bytes[2]
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!(
            "truncated IDX header ({what}): {ndim} dimensions need {header} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let data = &bytes[header..];
    let Some(count) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(format!(
            "IDX {what} claims dimensions {dims:?}, more data than any file holds"
        ));
    };
    if data.len() != count {
        return Err(format!(
            "IDX {what} of dimensions {dims:?} needs {count} data bytes, found {} ({})",
            data.len(),
            if data.len() < count {
                "truncated"
            } else {
                "trailing bytes"
            }
        ));
    }
    Ok((dims, data.to_vec()))
}

/// Reads an image file and its label file into an [`ImageSet`] (1 channel).
pub fn read_pair(images: &Path, labels: &Path) -> Result<ImageSet, DataError> {
    let image_bytes = read_maybe_gz(images)?;
    let label_bytes = read_maybe_gz(labels)?;
    pair_from_bytes(&image_bytes, &label_bytes).map_err(|(which, reason)| DataError::Format {
        path: match which {
            Part::Images => images.display().to_string(),
            Part::Labels => labels.display().to_string(),
        },
        reason,
    })
}

/// Which of the two files of a pair is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Images,
    Labels,
}

/// An [`ImageSet`] (1 channel) from IDX image and label bytes (already gunzipped; see
/// [`gunzip_if_gz`]); the error says which part is wrong and why.
pub fn pair_from_bytes(images: &[u8], labels: &[u8]) -> Result<ImageSet, (Part, String)> {
    let (dims, pixels) = parse_u8(images, "images").map_err(|r| (Part::Images, r))?;
    if dims.len() != 3 {
        return Err((
            Part::Images,
            format!("an image file has 3 dimensions [n, rows, cols], this one {dims:?}"),
        ));
    }
    let (ldims, labels_v) = parse_u8(labels, "labels").map_err(|r| (Part::Labels, r))?;
    if ldims.len() != 1 || ldims[0] != dims[0] {
        return Err((
            Part::Labels,
            format!("label dimensions {ldims:?} do not match {} images", dims[0]),
        ));
    }
    Ok(ImageSet {
        shape: ImageShape::new(1, dims[1], dims[2]),
        pixels,
        labels: labels_v,
    })
}

/// Encodes a set as IDX image + label bytes (for the committed demo subsets and tests).
pub fn encode(set: &ImageSet) -> (Vec<u8>, Vec<u8>) {
    let n = set.len() as u32;
    let mut images = vec![0, 0, 8, 3];
    for v in [n, set.shape.height as u32, set.shape.width as u32] {
        images.extend(v.to_be_bytes());
    }
    images.extend(&set.pixels);
    let mut labels = vec![0, 0, 8, 1];
    labels.extend(n.to_be_bytes());
    labels.extend(&set.labels);
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that expands past the cap is refused with a message; one within it is read.
    #[test]
    fn gunzip_refuses_a_stream_that_expands_past_the_cap() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let bytes = gz.finish().unwrap();
        assert!(
            bytes.len() < 4096,
            "a megabyte of zeros compresses to {} bytes",
            bytes.len()
        );
        assert_eq!(
            gunzip_capped(bytes.clone(), 1 << 20).unwrap().len(),
            1 << 20
        );
        let e = gunzip_capped(bytes, (1 << 20) - 1).unwrap_err();
        assert!(e.contains("expands to more than"), "{e}");
    }

    fn tiny() -> ImageSet {
        ImageSet {
            shape: ImageShape::new(1, 2, 3),
            pixels: (0..12).collect(),
            labels: vec![4, 7],
        }
    }

    #[test]
    fn round_trips_and_names_truncation() {
        let (img, lab) = encode(&tiny());
        let (dims, data) = parse_u8(&img, "images").unwrap();
        assert_eq!(dims, vec![2, 2, 3]);
        assert_eq!(data, tiny().pixels);
        assert_eq!(parse_u8(&lab, "labels").unwrap().1, vec![4, 7]);
        let err = parse_u8(&img[..img.len() - 1], "images").unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        let err = parse_u8(&img[..10], "images").unwrap_err();
        assert!(err.contains("truncated IDX header"), "{err}");
        let err = parse_u8(b"PK\x03\x04rest", "images").unwrap_err();
        assert!(err.contains("not an IDX file"), "{err}");
    }

    #[test]
    fn mismatched_label_file_is_named() {
        let dir = std::env::temp_dir().join(format!("flowplay-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (img, _) = encode(&tiny());
        let (_, lab) = encode(&tiny().take(1));
        std::fs::write(dir.join("i"), img).unwrap();
        std::fs::write(dir.join("l"), lab).unwrap();
        let err = read_pair(&dir.join("i"), &dir.join("l"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("do not match 2 images"), "{err}");
        std::fs::write(dir.join("g"), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        let err = read_maybe_gz(&dir.join("g")).unwrap_err().to_string();
        assert!(err.contains("corrupt gzip stream"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
