//! Image data: the IDX reader (MNIST, Fashion-MNIST), the offline fetch + checksum + cache,
//! CIFAR-10 from a user-supplied directory, a folder of the user's own PNG/JPEG images, and the dequantisation / bits-per-dimension
//! conventions of image flows.

pub mod cifar;
pub mod dequantize;
#[cfg(not(target_arch = "wasm32"))]
pub mod fetch;
#[cfg(not(target_arch = "wasm32"))]
pub mod folder;
pub mod idx;
pub mod labels;

pub use dequantize::{bits_per_dim, dequantize_batch, nll_nats_from_bpd};

use crate::flows::image::ImageShape;

/// A set of 8-bit images with labels.
#[derive(Clone, Debug)]
pub struct ImageSet {
    pub shape: ImageShape,
    /// `n · c·h·w` pixel values, image after image, channel-major.
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let d = self.shape.dim();
        &self.pixels[i * d..(i + 1) * d]
    }

    /// The images `range` as a new set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> ImageSet {
        let d = self.shape.dim();
        ImageSet {
            shape: self.shape,
            pixels: self.pixels[range.start * d..range.end * d].to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }

    /// The first `n` images (all if fewer).
    pub fn take(&self, n: usize) -> ImageSet {
        self.slice(0..n.min(self.len()))
    }
}

/// The data sets a preset or `flowplay eval --data` can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    Mnist,
    FashionMnist,
    Cifar10,
    Imagenet32,
}

/// Which part of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Dataset {
    pub const ALL: [Dataset; 4] = [
        Dataset::Mnist,
        Dataset::FashionMnist,
        Dataset::Cifar10,
        Dataset::Imagenet32,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
            Self::Cifar10 => "cifar10",
            Self::Imagenet32 => "imagenet32",
        }
    }

    pub fn shape(&self) -> ImageShape {
        match self {
            Self::Mnist | Self::FashionMnist => ImageShape::new(1, 28, 28),
            Self::Cifar10 | Self::Imagenet32 => ImageShape::new(3, 32, 32),
        }
    }

    /// Whether `flowplay data fetch` can obtain it (the others need `--data-dir`).
    pub fn fetchable(&self) -> bool {
        matches!(self, Self::Mnist | Self::FashionMnist)
    }
}

impl std::str::FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s || d.name().replace('-', "_") == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|d| d.name()).collect();
                format!(
                    "unknown data set '{s}': expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Parses `mnist-test`, `fashion-mnist-train`, … into a data set and a split.
pub fn parse_dataset_split(s: &str) -> Result<(Dataset, Split), String> {
    let (name, split) = if let Some(n) = s.strip_suffix("-test") {
        (n, Split::Test)
    } else if let Some(n) = s.strip_suffix("-train") {
        (n, Split::Train)
    } else {
        return Err(format!(
            "'{s}' names no split: use e.g. mnist-test or fashion-mnist-train"
        ));
    };
    Ok((name.parse()?, split))
}

/// Why image data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Format { path: String, reason: String },
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Fetch(String),
}
