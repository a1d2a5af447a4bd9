//! `reproduce mbank`: mbank's tutorial fit, saved as `mbank.flow`, with its loss history
//! (`history.png`), the flow against the data in a corner plot (`corner.png`: marginal
//! histograms on the diagonal, pairwise densities off it), the total-variation distance of each
//! marginal's histogram (40 bins) and the box the tanh layer learnt.

use serde_json::{Value, json};

use super::Run;
use crate::cli::png::write_png;
use crate::flows::Layer;
use crate::model_file::{self, FlowMeta};
use crate::plot::corner::{Corner, corner_size, draw_corner};
use crate::plot::draw_history;
use crate::reproduce::{Fitted, mbank::cell};
use crate::rng::Rng;

/// Flow samples drawn for the comparison with the data.
const SAMPLES: usize = 20_000;

pub fn run(run: &Run) -> Result<Value, String> {
    let cell = run
        .select(vec![cell(run.budget, run.seed)])?
        .pop()
        .ok_or("no fit")?;
    let fitted = run
        .fit(std::slice::from_ref(&cell))?
        .pop()
        .ok_or("no fit")?;
    let dim = cell.spec.dim;
    let (x, _) = fitted.model.sample(
        SAMPLES,
        &mut Rng::new(run.seed ^ 0x5A),
        &crate::device::cpu(),
    );
    let samples: Vec<f32> = crate::readback::to_host(x).map_err(|e| e.to_string())?;
    let labels = vec!["x ~ Exp(1)".to_string(), "y ~ N(0, 1)".to_string()];
    let corner = Corner {
        dim,
        data: &fitted.data,
        samples: &samples,
        labels: &labels,
        bins: 40,
        caption: None,
    };
    let tv = corner.marginal_tv();
    write_png(&run.dir.join("corner.png"), corner_size(dim, 300), |root| {
        draw_corner(root, &corner).map_err(String::from)
    })?;
    write_png(&run.dir.join("history.png"), (640, 400), |root| {
        root.fill(&plotters::style::WHITE)
            .map_err(|e| e.to_string())?;
        draw_history(
            root,
            &fitted.history,
            "mbank flow on expnormal: loss (nats)",
        )
        .map_err(String::from)
    })?;
    save(run, &fitted)?;
    let entropy = crate::targets::SampleSet::ExpNormal.entropy();
    Ok(json!({
        "flow": cell.label,
        "steps": cell.steps,
        "batch": cell.batch,
        "lr": cell.lr,
        "data_points": cell.data_points,
        "params": model_file::num_params(&fitted.model),
        "nll_minus_entropy": fitted.figure.value(),
        "entropy": entropy,
        "val_nll": entropy.map(|h| h + fitted.figure.value()),
        "marginal_tv": tv,
        "box": learnt_box(&fitted),
        "train_seconds": fitted.seconds,
        "figures": ["corner.png", "history.png"],
    }))
}

/// The tanh layer's `(low, high)` after training.
fn learnt_box(f: &Fitted) -> Option<(Vec<f32>, Vec<f32>)> {
    f.model.layers.iter().find_map(|l| match l {
        Layer::Tanh(t) => Some(t.bounds()),
        _ => None,
    })
}

fn save(run: &Run, f: &Fitted) -> Result<(), String> {
    let mut meta = FlowMeta::new(f.model.config().clone());
    meta.spec = Some(f.spec.clone());
    meta.target = Some(f.cell.target.name().to_string());
    meta.history = Some(f.history.clone());
    let path = run.dir.join("mbank.flow");
    model_file::save(&path, &f.model, &meta).map_err(|e| e.to_string())
}
