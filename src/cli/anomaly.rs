//! `flowplay anomaly --model M --inliers mnist-test --outliers fashion-mnist-test`: how well an
//! image flow's likelihood tells its own data from another data set. Prints one JSON line with
//! the AUROC of the raw score (bits/dim) and of the complexity-corrected score (Serrà et al.
//! 2020), the mean scores of both sets, and (with `--scores FILE`) writes every score as CSV.
//! The page's anomaly view computes the same numbers with the same code ([`crate::explore`]).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::image_io::{load_image_model, load_split};
use crate::device::{BackendChoice, inference_device};
use crate::explore::complexity::corrected_score;
use crate::explore::roc::auroc;
use crate::explore::scoring::bits_per_dim_all;
use crate::images::ImageSet;

/// Which score ranks the images (higher = more anomalous).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Score {
    /// Bits per dimension, `−log₂ p(x)/D + 8`.
    Raw,
    /// Bits per dimension minus the PNG-compressed bits per dimension of the image.
    Complexity,
    /// Both (the default).
    Both,
}

#[derive(Args, Debug)]
pub struct AnomalyArgs {
    /// The `.flow` image model.
    #[arg(long)]
    pub model: PathBuf,
    /// The in-distribution images: data set and split (mnist-test, fashion-mnist-test, …).
    #[arg(long)]
    pub inliers: String,
    /// The out-of-distribution images, named the same way.
    #[arg(long)]
    pub outliers: String,
    /// Directory with the inliers' IDX files (default: the `flowplay data fetch` cache); the
    /// page's bundled subsets are `www/data/mnist-sample` and `www/data/fashion-mnist-sample`.
    #[arg(long)]
    pub inliers_dir: Option<PathBuf>,
    /// Directory with the outliers' IDX files.
    #[arg(long)]
    pub outliers_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "both")]
    pub score: Score,
    /// Score only the first N images of each set.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write every image's scores as CSV (`set,index,label,bits_per_dim,complexity_score`).
    #[arg(long)]
    pub scores: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: BackendChoice,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

pub fn run(a: AnomalyArgs) -> Result<(), String> {
    let device = inference_device(a.device)?;
    let (flow, shape) = load_image_model(&a.model, &device)?;
    let inliers = load_split(&a.inliers, a.inliers_dir.as_deref(), a.limit, shape)?;
    let outliers = load_split(&a.outliers, a.outliers_dir.as_deref(), a.limit, shape)?;
    let t0 = Instant::now();
    let raw_in = bits_per_dim_all(&flow, &inliers, &device)?;
    let raw_out = bits_per_dim_all(&flow, &outliers, &device)?;
    let corrected = |raw: &[f64], set: &ImageSet| -> Vec<f64> {
        raw.iter()
            .enumerate()
            .map(|(i, &b)| corrected_score(b, set.image(i), shape))
            .collect()
    };
    let cx_in = corrected(&raw_in, &inliers);
    let cx_out = corrected(&raw_out, &outliers);
    let mut line = json!({
        "model": a.model.display().to_string(),
        "inliers": a.inliers,
        "outliers": a.outliers,
        "inlier_images": inliers.len(),
        "outlier_images": outliers.len(),
        "seconds": t0.elapsed().as_secs_f64(),
    });
    if a.score != Score::Complexity {
        line["auroc_raw"] = json!(auroc(&raw_in, &raw_out));
        line["mean_bpd_inliers"] = json!(mean(&raw_in));
        line["mean_bpd_outliers"] = json!(mean(&raw_out));
    }
    if a.score != Score::Raw {
        line["auroc_complexity"] = json!(auroc(&cx_in, &cx_out));
        line["mean_complexity_score_inliers"] = json!(mean(&cx_in));
        line["mean_complexity_score_outliers"] = json!(mean(&cx_out));
    }
    if let Some(path) = &a.scores {
        let mut csv = String::from("set,index,label,bits_per_dim,complexity_score\n");
        for (name, set, raw, cx) in [
            ("inlier", &inliers, &raw_in, &cx_in),
            ("outlier", &outliers, &raw_out, &cx_out),
        ] {
            for i in 0..set.len() {
                csv += &format!("{name},{i},{},{},{}\n", set.labels[i], raw[i], cx[i]);
            }
        }
        crate::atomic_file::write(path, csv.as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    println!("{line}");
    Ok(())
}
