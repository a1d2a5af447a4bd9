//! `flowplay models index DIR`: writes `DIR/index.json`, the gallery of the page (one entry per
//! `.flow` file: title, data set, image shape, parameters, test bits/dim, bytes). A file that is
//! not a readable flowplay model stops the command with its name and the reason.
//!
//! `flowplay models check DIR`: recomputes what the index claims of each image model — the
//! parameters of the built flow, the test bits/dim by `eval`'s own computation on the test
//! split, a classifier's test accuracy by `eval --task classify`'s — and fails when a figure is
//! off by more than its tolerance.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::device::{BackendChoice, inference_device};
use crate::explore::gallery::{ModelEntry, ModelIndex, entry, sorted};
use crate::images::{Dataset, Split};

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
    /// Recompute each image model's parameters and test bits/dim and compare them with
    /// DIR/index.json.
    Check(CheckArgs),
}

/// `models check`'s options.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The directory of models with its index.json.
    pub dir: PathBuf,
    /// Where a data set's files are, as DATASET=DIR (repeatable; default: the `flowplay data
    /// fetch` cache), e.g. `--data-dir mnist=www/data/mnist-sample`.
    #[arg(long = "data-dir", value_parser = parse_data_dir)]
    pub data_dirs: Vec<(Dataset, PathBuf)>,
    /// Evaluate only the first N test images (the index's figure is over the whole test set,
    /// so give a tolerance that covers a subset's sampling error).
    #[arg(long)]
    pub limit: Option<usize>,
    /// The largest accepted |recomputed − indexed| test bits/dim.
    #[arg(long, default_value_t = 0.002)]
    pub tolerance: f64,
    /// The largest accepted |recomputed − indexed| test accuracy of a classifier.
    #[arg(long, default_value_t = 0.002)]
    pub accuracy_tolerance: f64,
    /// Check only these models (file stems; default: every image model in the index).
    #[arg(long)]
    pub only: Vec<String>,
    /// cpu, wgpu[:N] (feature `wgpu`) or cuda[:N] (feature `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: BackendChoice,
}

fn parse_data_dir(s: &str) -> Result<(Dataset, PathBuf), String> {
    let (name, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("--data-dir '{s}': expected DATASET=DIR"))?;
    Ok((name.parse()?, PathBuf::from(dir)))
}

pub fn run(a: ModelsArgs) -> Result<(), String> {
    match a.command {
        ModelsCommand::Index { dir } => write_index(dir),
        ModelsCommand::Check(c) => check(c),
    }
}

fn write_index(dir: PathBuf) -> Result<(), String> {
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

/// What `models check` found for one model.
struct Checked {
    params: usize,
    bpd: f64,
    /// A classifier's accuracy (when the index claims one).
    accuracy: Option<f64>,
    images: usize,
}

/// Builds `entry`'s flow from `dir` and recomputes its parameters and test bits/dim.
fn recompute(
    dir: &std::path::Path,
    entry: &ModelEntry,
    a: &CheckArgs,
    device: &burn::tensor::Device,
) -> Result<Checked, String> {
    let path = dir.join(&entry.file);
    let (flow, meta) = crate::model_file::load(&path, device).map_err(|e| e.to_string())?;
    let image = meta
        .image
        .ok_or_else(|| format!("{} is listed as an image model but is not one", entry.file))?;
    let dataset: Dataset = image
        .dataset
        .as_deref()
        .ok_or_else(|| format!("{} names no data set", entry.file))?
        .parse()?;
    let data_dir = a
        .data_dirs
        .iter()
        .find(|(d, _)| *d == dataset)
        .map(|(_, p)| p.as_path());
    let set =
        crate::images::fetch::load(dataset, Split::Test, data_dir).map_err(|e| e.to_string())?;
    let set = match a.limit {
        Some(n) => set.take(n),
        None => set,
    };
    let bpd =
        crate::train::images::evaluate_bpd(&flow, &set, 250, device).map_err(|e| e.to_string())?;
    let accuracy = match entry.test_accuracy {
        Some(_) => Some(accuracy(&flow, &set, device)?),
        None => None,
    };
    Ok(Checked {
        params: burn::module::Module::num_params(&flow),
        bpd,
        accuracy,
        images: set.len(),
    })
}

/// The accuracy of `flow`'s classifier on `set`, as `eval --task classify` computes it.
fn accuracy(
    flow: &crate::flows::Flow,
    set: &crate::images::ImageSet,
    device: &burn::tensor::Device,
) -> Result<f64, String> {
    use crate::explore::classify::{Classifier, ClassifierScores, class_scores};
    let c = Classifier::of(flow)
        .ok_or("the index claims an accuracy of a model that does not classify")?;
    let mut scores = ClassifierScores::new(set.shape.dim(), c.classes());
    let indices: Vec<usize> = (0..set.len()).collect();
    for batch in indices.chunks(25) {
        let x = crate::images::dequantize_batch(set, batch, None, device);
        let scored = pollster::block_on(class_scores(flow, c, x)).map_err(|e| e.to_string())?;
        for (&i, s) in batch.iter().zip(&scored) {
            scores.add_scores(set.labels[i] as usize, s);
        }
    }
    Ok(scores.report().accuracy)
}

fn check(a: CheckArgs) -> Result<(), String> {
    let path = a.dir.join("index.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let index: ModelIndex = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a model index: {e}", path.display()))?;
    for name in &a.only {
        if index.find(name).is_none() {
            return Err(format!(
                "--only {name}: {} lists no such model",
                path.display()
            ));
        }
    }
    let chosen: Vec<&ModelEntry> = index
        .image_models()
        .filter(|m| a.only.is_empty() || a.only.iter().any(|n| index.find(n) == Some(*m)))
        .collect();
    let device = inference_device(a.device)?;
    let mut failures = Vec::new();
    for entry in &chosen {
        let got = recompute(&a.dir, entry, &a, &device)?;
        let claimed = entry.test_bpd;
        let off = claimed.map(|c| (got.bpd - c).abs());
        let accuracy_ok = match (got.accuracy, entry.test_accuracy) {
            (Some(g), Some(c)) => (g - c).abs() <= a.accuracy_tolerance,
            _ => true,
        };
        let ok = got.params == entry.params && off.is_some_and(|d| d <= a.tolerance) && accuracy_ok;
        println!(
            "{}",
            serde_json::json!({
                "model": entry.file,
                "params": got.params,
                "indexed_params": entry.params,
                "test_bpd": got.bpd,
                "indexed_test_bpd": claimed,
                "test_accuracy": got.accuracy,
                "indexed_test_accuracy": entry.test_accuracy,
                "images": got.images,
                "ok": ok,
            })
        );
        if !ok {
            let acc = |a: Option<f64>| a.map_or(String::new(), |a| format!(", accuracy {a:.4}"));
            failures.push(format!(
                "{}: {} parameters and {:.4} bits/dim{} on {} test images; the index says {} and {}{}",
                entry.file,
                got.params,
                got.bpd,
                acc(got.accuracy),
                got.images,
                entry.params,
                claimed.map_or("no test bits/dim".into(), |c| format!("{c:.4}")),
                acc(entry.test_accuracy),
            ));
        }
    }
    println!(
        "{}",
        serde_json::json!({"checked": chosen.len(), "failed": failures.len(), "tolerance": a.tolerance})
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
