//! `flowplay plot`: the target, the flow's density with samples, and the loss history, side by
//! side, as PNG or SVG (by the file extension).

use std::path::PathBuf;

use clap::Args;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::evaluate::log_density_grid;
use crate::model_file;
use crate::plot::{DensityPlot, draw_density, draw_history};
use crate::rng::Rng;
use crate::targets::Target;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// The `.flow` model file (2D).
    #[arg(long)]
    pub model: PathBuf,
    /// Target to draw beside it (default: the one it was trained on).
    #[arg(long)]
    pub target: Option<Target>,
    /// Output file: .png or .svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Grid resolution.
    #[arg(long, default_value_t = 150)]
    pub res: usize,
    /// Flow samples to overlay.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
}

pub fn run(a: PlotArgs) -> Result<(), String> {
    super::register_fonts();
    let device = crate::device::cpu();
    let (flow, meta) = model_file::load(&a.model, &device).map_err(|e| e.to_string())?;
    if flow.dim() != 2 {
        return Err(format!(
            "plot draws 2D flows; this model has dimension {}",
            flow.dim()
        ));
    }
    let target = match (a.target, meta.target.as_deref()) {
        (Some(t), _) => Some(t),
        (None, Some(name)) => name.parse::<Target>().ok(),
        (None, None) => None,
    };
    let bounds = target
        .map(|t| t.bounds())
        .unwrap_or(crate::targets::Bounds::square(4.0));
    let res = a.res.clamp(10, 1000);
    let grid = log_density_grid(&flow, &bounds, res, &device)?;
    let (x, _) = flow.sample(a.samples, &mut Rng::new(1), &device);
    let samples: Vec<f32> = crate::readback::to_host(x)?;
    let fig = Figure {
        target,
        bounds,
        res,
        grid,
        samples,
        meta,
    };
    let size = (420 * fig.panels() as u32, 420);
    let pending = crate::atomic_file::PendingFile::new(&a.out);
    match a.out.extension().and_then(|e| e.to_str()) {
        Some("png") => fig.draw(BitMapBackend::new(pending.path(), size).into_drawing_area())?,
        Some("svg") => fig.draw(SVGBackend::new(pending.path(), size).into_drawing_area())?,
        _ => {
            return Err(format!(
                "--out must end in .png or .svg: {}",
                a.out.display()
            ));
        }
    }
    pending
        .commit()
        .map_err(|e| format!("writing {}: {e}", a.out.display()))?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

/// Everything one figure shows.
struct Figure {
    target: Option<Target>,
    bounds: crate::targets::Bounds,
    res: usize,
    grid: Vec<f32>,
    samples: Vec<f32>,
    meta: model_file::FlowMeta,
}

impl Figure {
    fn panels(&self) -> usize {
        1 + usize::from(self.target.is_some()) + usize::from(self.meta.history.is_some())
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let (bounds, res) = (self.bounds, self.res);
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((1, self.panels()));
        let mut k = 0;
        if let Some(t) = self.target {
            let (target_grid, data) = match t {
                Target::Energy(e) => (
                    bounds
                        .grid(res)
                        .chunks(2)
                        .map(|p| -e.energy(p[0] as f64, p[1] as f64) as f32)
                        .collect(),
                    Vec::new(),
                ),
                Target::Samples(s) => (
                    vec![f32::NEG_INFINITY; res * res],
                    s.sample(2000, &mut Rng::new(2)),
                ),
            };
            draw_density(
                &areas[k],
                &DensityPlot {
                    title: &format!("target: {}", t.name()),
                    bounds,
                    res,
                    log_density: &target_grid,
                    samples: &[],
                    data: &data,
                },
            )?;
            k += 1;
        }
        let kind = self
            .meta
            .spec
            .as_ref()
            .map(|s| s.kind.name())
            .unwrap_or("flow");
        draw_density(
            &areas[k],
            &DensityPlot {
                title: &format!("{kind}: density + samples"),
                bounds,
                res,
                log_density: &self.grid,
                samples: &self.samples,
                data: &[],
            },
        )?;
        k += 1;
        if let Some(h) = &self.meta.history {
            draw_history(&areas[k], h, "training history")?;
        }
        root.present().map_err(|e| e.to_string())
    }
}
