//! CIFAR-10 and ImageNet32 from a directory the user supplies (neither can be downloaded by
//! package name here). Both are read in the CIFAR-10 *binary version* layout
//! (`cifar-10-binary.tar.gz`, www.cs.toronto.edu/~kriz/cifar.html): records of 1 label byte
//! followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32×32).
//!
//! - CIFAR-10: `data_batch_1.bin … data_batch_5.bin` (train), `test_batch.bin` (test).
//! - ImageNet32 (Chrabaszcz et al. 2017): the same record layout in `train_*.bin` and
//!   `val_*.bin` (convert the official npz batches once: label byte + `data` row per image).

use std::path::Path;

use super::{DataError, Dataset, ImageSet, Split};
use crate::flows::image::ImageShape;

const RECORD: usize = 1 + 3072;

/// The files a split needs, for the error message and the reader.
pub fn expected_files(dataset: Dataset, split: Split, dir: &Path) -> Vec<String> {
    match (dataset, split) {
        (Dataset::Cifar10, Split::Train) => {
            (1..=5).map(|i| format!("data_batch_{i}.bin")).collect()
        }
        (Dataset::Cifar10, Split::Test) => vec!["test_batch.bin".into()],
        (Dataset::Imagenet32, split) => {
            let prefix = if split == Split::Train {
                "train_"
            } else {
                "val_"
            };
            let mut found: Vec<String> = std::fs::read_dir(dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.starts_with(prefix) && n.ends_with(".bin"))
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            if found.is_empty() {
                vec![format!("{prefix}*.bin")]
            } else {
                found
            }
        }
        _ => Vec::new(),
    }
}

/// Reads `dataset`'s `split` from `dir`, or says exactly which files are missing.
pub fn read_dir(dataset: Dataset, split: Split, dir: &Path) -> Result<ImageSet, DataError> {
    let files = expected_files(dataset, split, dir);
    let missing: Vec<&String> = files.iter().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        return Err(DataError::Missing(format!(
            "{} is not available offline; its {:?} split needs {} in {} (missing: {}). \
             Download the CIFAR-10 binary version (cifar-10-binary.tar.gz) yourself and pass \
             its directory with --data-dir",
            dataset.name(),
            split,
            files.join(", "),
            dir.display(),
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut set = ImageSet {
        shape: ImageShape::new(3, 32, 32),
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for f in files {
        let path = dir.join(&f);
        let bytes = std::fs::read(&path).map_err(|source| DataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        append_records(&bytes, &mut set).map_err(|reason| DataError::Format {
            path: path.display().to_string(),
            reason,
        })?;
    }
    Ok(set)
}

/// Appends the records of one CIFAR-10 binary batch (`label, 32×32×3 pixels` each) to `set`;
/// refuses anything that is not a whole, non-zero number of records.
pub fn append_records(bytes: &[u8], set: &mut ImageSet) -> Result<(), String> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(format!(
            "{} bytes is not a whole number of {RECORD}-byte records (label + 32×32×3)",
            bytes.len()
        ));
    }
    for rec in bytes.chunks_exact(RECORD) {
        set.labels.push(rec[0]);
        set.pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_listed_and_records_are_read() {
        let dir = std::env::temp_dir().join(format!("flowplay-cifar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = read_dir(Dataset::Cifar10, Split::Test, &dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing: test_batch.bin"), "{err}");
        let mut rec = vec![3u8];
        rec.extend((0..3072).map(|i| (i % 251) as u8));
        std::fs::write(dir.join("test_batch.bin"), [rec.clone(), rec].concat()).unwrap();
        let set = read_dir(Dataset::Cifar10, Split::Test, &dir).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.labels, vec![3, 3]);
        assert_eq!(set.image(1)[1024], (1024 % 251) as u8);
        std::fs::write(dir.join("test_batch.bin"), [1u8; 100]).unwrap();
        let err = read_dir(Dataset::Cifar10, Split::Test, &dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("whole number"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
