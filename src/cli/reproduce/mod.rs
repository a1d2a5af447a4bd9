//! `flowplay reproduce <name>`: re-runs a published result with this crate's code, writes its
//! figures and a Markdown table into the output folder, and prints one JSON summary as its last
//! stdout line. `--quick` is minutes on 2 CPU cores; without it, the settings of the tables in
//! `docs/reproductions.md`. The experiments themselves are [`crate::reproduce`].

mod families;
mod gallery2d;
mod mbank;
mod rezende2015;
mod snf_table1;

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::reproduce::{Budget, Cell, Fitted, fit_all};

/// The results that can be re-run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Experiment {
    /// Rezende & Mohamed 2015, Fig. 3: planar and radial flows on U1–U4 by reverse KL.
    Rezende2015,
    /// Every flow family on every 2D target.
    Gallery2d,
    /// A few flow families side by side on one target (default moons; RealNVP, NSF and a
    /// flow-matching CNF), with each fit's training time: the page's
    /// `#view=papers&figure=families` natively.
    Families,
    /// mbank's standard flow on its tutorial data, with a corner plot.
    Mbank,
    /// Self Normalizing Flows (Keller et al. 2021), Table 1: exact vs self-normalized
    /// gradients on MNIST (FC, CNN, Glow; GECO), NLL and time per step. Needs MNIST
    /// (`flowplay data fetch mnist`).
    #[value(name = "snf-table1")]
    SnfTable1,
}

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Which result.
    #[arg(value_enum)]
    pub name: Experiment,
    /// Minutes on 2 CPU cores instead of the documented budget.
    #[arg(long)]
    pub quick: bool,
    /// Output folder (default: `reproductions/<name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fits run in parallel, one CPU thread each (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Every fit trains this many steps instead of the budget's (rezende2015, gallery2d, mbank).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Only these targets' rows, comma-separated (rezende2015: u1–u4; gallery2d: any target).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<crate::targets::Target>,
    /// rezende2015: only these flow lengths K, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub lengths: Vec<usize>,
    /// families: the flow families compared, comma-separated (default: realnvp,nsf,cnf).
    #[arg(long, value_delimiter = ',')]
    pub flows: Vec<crate::flows::FlowKind>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// What every experiment's runner gets.
pub struct Run {
    pub budget: Budget,
    /// `--steps`, `--only`, `--lengths`.
    pub steps: Option<usize>,
    pub only: Vec<crate::targets::Target>,
    pub lengths: Vec<usize>,
    pub dir: PathBuf,
    pub seed: u64,
    pub threads: usize,
    pub quiet: bool,
}

pub fn run(a: ReproduceArgs) -> Result<(), String> {
    super::register_fonts();
    let name = a.name.to_possible_value().map(|v| v.get_name().to_string());
    let name = name.unwrap_or_default();
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("reproductions").join(&name));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let run = Run {
        budget: if a.quick { Budget::Quick } else { Budget::Full },
        steps: a.steps,
        only: a.only.clone(),
        lengths: a.lengths.clone(),
        dir,
        seed: a.seed,
        threads: a
            .threads
            .unwrap_or_else(crate::device::available_threads)
            .max(1),
        quiet: a.quiet,
    };
    let start = std::time::Instant::now();
    let mut summary = match a.name {
        Experiment::Rezende2015 => rezende2015::run(&run)?,
        Experiment::Gallery2d => gallery2d::run(&run)?,
        Experiment::Families => families::run(&run, &a.flows)?,
        Experiment::Mbank => mbank::run(&run)?,
        Experiment::SnfTable1 => snf_table1::run(&run)?,
    };
    summary["experiment"] = serde_json::json!(name);
    summary["budget"] = serde_json::json!(run.budget);
    summary["seed"] = serde_json::json!(run.seed);
    summary["threads"] = serde_json::json!(run.threads);
    summary["seconds"] = serde_json::json!(start.elapsed().as_secs_f64());
    summary["out"] = serde_json::json!(run.dir.display().to_string());
    write_text(
        &run.dir.join("summary.json"),
        &serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )?;
    println!("{summary}");
    Ok(())
}

impl Run {
    /// `cells` with `--steps` applied and `--only`'s targets kept; an error when none is left.
    fn select(&self, cells: Vec<Cell>) -> Result<Vec<Cell>, String> {
        if self.steps == Some(0) {
            return Err("--steps must be positive".into());
        }
        let kept: Vec<Cell> = cells
            .into_iter()
            .filter(|c| self.only.is_empty() || self.only.contains(&c.target))
            .filter(|c| self.lengths.is_empty() || self.lengths.contains(&c.spec.layers))
            .map(|c| Cell {
                steps: self.steps.unwrap_or(c.steps),
                ..c
            })
            .collect();
        if kept.is_empty() {
            return Err("--only/--lengths leave no fit of this experiment".into());
        }
        Ok(kept)
    }

    /// Fits `cells` with a progress line per finished fit.
    fn fit(&self, cells: &[Cell]) -> Result<Vec<Fitted>, String> {
        let total = cells.len();
        let count = std::sync::atomic::AtomicUsize::new(0);
        let quiet = self.quiet;
        let done = move |_: usize, f: &Fitted| {
            let k = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if !quiet {
                eprintln!(
                    "  [{k:>3}/{total}] {:<12} {:<14} {:>8.4}  ({:.1} s)",
                    f.cell.target.name(),
                    f.cell.label,
                    f.figure.value(),
                    f.seconds
                );
            }
        };
        fit_all(cells, self.threads, &done).map_err(|e| e.to_string())
    }
}

/// Writes a text file atomically.
fn write_text(path: &Path, text: &str) -> Result<(), String> {
    crate::atomic_file::write(path, text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// A Markdown table: `header` cells, then one row per entry of `rows`.
fn markdown_table(header: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut out = line(header);
    out += &line(&vec!["---".to_string(); header.len()]);
    for r in rows {
        out += &line(r);
    }
    out
}
