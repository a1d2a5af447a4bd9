//! `flowplay models index DIR`: writes `DIR/index.json`, the gallery of the page (one entry per
//! `.flow` file: title, data set, image shape, parameters, test bits/dim, bytes). A file that is
//! not a readable flowplay model stops the command with its name and the reason.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::explore::gallery::{entry, sorted};

#[derive(Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Write DIR/index.json from the `.flow` files in DIR.
    Index {
        /// The directory of models (the page serves `www/models`).
        dir: PathBuf,
    },
}

pub fn run(a: ModelsArgs) -> Result<(), String> {
    let ModelsCommand::Index { dir } = a.command;
    let read = std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "flow"))
        .collect();
    files.sort();
    let mut models = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} has no UTF-8 name", path.display()))?;
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        models.push(entry(name, &bytes).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let index = sorted(models);
    let json = serde_json::to_string_pretty(&index).expect("the index serialises") + "\n";
    let out = dir.join("index.json");
    crate::atomic_file::write(&out, json.as_bytes())
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    eprintln!("{}: {} models", out.display(), index.models.len());
    Ok(())
}
