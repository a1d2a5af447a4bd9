//! One training session in the page: the trainer (the crate's own [`Trainer`]), its target and
//! what the views need (density grid, samples, history, health figures), read back asynchronously.

use burn::tensor::{Device, Tensor, TensorData};

use super::live_grid::LiveGrid;
use super::protocol::{Snapshot, StageView};
use crate::evaluate::log_prob_rows;
use crate::flows::cnf::Cnf;
use crate::flows::{Bijection, Flow, FlowSpec, Layer};
use crate::rng::Rng;
use crate::targets::{Bounds, Target};
use crate::train::{
    History, Objective, StepOutcome, TargetTraining, TrainSettings, Trainer, target_problem,
};
use crate::web::shell::url::PageConfig;

/// Grid resolution of the heatmap (drawn as one image, smoothed: `web::playground::draw::density`), at rest
/// and while training (then refreshed a part per frame: [`LiveGrid`]).
pub const GRID_RES: usize = 128;

/// The drawing canvas covers this box.
pub const DRAW_BOUNDS: Bounds = Bounds {
    x: (-4.0, 4.0),
    y: (-4.0, 4.0),
};
/// Fewest drawn points to train on.
pub const MIN_DRAWN: usize = 20;
/// Samples whose round trip `f⁻¹(f(x))` the health readout checks each frame.
pub const INVERSION_SAMPLES: usize = 64;
/// Samples drawn over the heatmap.
pub const VIEW_SAMPLES: usize = 300;
/// Steps between a continuous flow's validations (50 for the other families).
pub const CNF_EVAL_EVERY: usize = 250;
/// RK4 steps of a continuous flow's pictures: the heatmap, the samples over it and the layer
/// scrubber's stages (its validation NLL uses its own solver).
pub const PREVIEW_CNF_STEPS: usize = 6;
/// The stages a continuous flow's layer is shown as (times `1/8, …, 1`).
pub const CNF_STAGES: usize = 8;
/// Arrows per side of the velocity field drawn over a CNF's stage.
pub const ARROW_GRID: usize = 15;
/// Seed of the drawn samples' noise (the same for the stages, whose last stage they are).
const SAMPLE_SEED: u64 = 23;

/// A live training run.
pub struct Session {
    pub trainer: Trainer,
    pub target: Target,
    /// Trained on points the user drew.
    pub drawn: bool,
    pub bounds: Bounds,
    /// Data to overlay (sample targets).
    pub data: Vec<f32>,
    pub last_loss: Option<f32>,
    pub last_val_nll: Option<f64>,
    inference_device: Device,
    /// The heatmap's values, refreshed a phase at a time while training.
    grid: LiveGrid,
}

impl Session {
    /// Builds the flow and trainer for `cfg` on `device` (gradients are added by the trainer).
    pub fn new(cfg: &PageConfig, device: Device, drawn: Option<Vec<f32>>) -> Result<Self, String> {
        Self::build(cfg, device, drawn, None)
    }

    /// A session that continues training `flow` (loaded, or restored after a lost GPU), with
    /// its saved history, from step `step`.
    pub fn with_flow(
        cfg: &PageConfig,
        device: Device,
        drawn: Option<Vec<f32>>,
        flow: Flow,
        history: Option<History>,
        step: usize,
    ) -> Result<Self, String> {
        let mut session = Self::build(cfg, device, drawn, Some(flow))?;
        session.trainer.history = history.unwrap_or_default();
        session.trainer.step = step;
        Ok(session)
    }

    fn build(
        cfg: &PageConfig,
        device: Device,
        drawn: Option<Vec<f32>>,
        flow: Option<Flow>,
    ) -> Result<Self, String> {
        let spec = FlowSpec::new(cfg.flow, 2)
            .with_layers(cfg.layers)
            .with_hidden(cfg.hidden);
        let drawn_used = drawn.is_some();
        let (spec, objective, data) = match drawn {
            Some(points) => {
                if points.len() < 2 * MIN_DRAWN {
                    return Err(format!(
                        "draw at least {MIN_DRAWN} points first ({} so far)",
                        points.len() / 2
                    ));
                }
                let objective =
                    Objective::on_samples(2, points.clone(), 0.2, cfg.objective.pairing());
                (spec, objective, points)
            }
            None => {
                let how = TargetTraining {
                    data_points: 8_000,
                    val_fraction: 0.2,
                    seed: cfg.seed,
                    beta0: 0.01,
                    anneal_steps: 1000,
                    fit_by: cfg.objective,
                };
                let p = target_problem(cfg.target, spec, &how)?;
                (p.spec, p.objective, p.data)
            }
        };
        let settings = TrainSettings {
            steps: cfg.steps.unwrap_or(usize::MAX),
            batch: cfg.batch,
            lr: cfg.lr,
            seed: cfg.seed,
            // A continuous flow's validation NLL integrates the ODE for every held-out point.
            eval_every: if cfg.flow == crate::flows::FlowKind::Cnf {
                CNF_EVAL_EVERY
            } else {
                50
            },
            ..TrainSettings::default()
        };
        let trainer = match flow {
            Some(flow) => Trainer::with_flow(flow, objective, settings, &device),
            None => Trainer::new(&spec.config(), objective, settings, &device),
        }
        .map_err(|e| e.to_string())?;
        let bounds = if drawn_used {
            data_bounds(&data, DRAW_BOUNDS)
        } else if data.is_empty() {
            cfg.target.bounds()
        } else {
            data_bounds(&data, cfg.target.bounds())
        };
        Ok(Self {
            trainer,
            target: cfg.target,
            drawn: drawn_used,
            bounds,
            data: data.into_iter().take(2 * 600).collect(),
            last_loss: None,
            last_val_nll: None,
            inference_device: device,
            grid: if cfg.flow == crate::flows::FlowKind::Cnf {
                LiveGrid::with_max_stride(GRID_RES, super::live_grid::MAX_STRIDE_CNF)
            } else {
                LiveGrid::new(GRID_RES)
            },
        })
    }

    /// Runs up to `n` steps (fewer when the step limit is reached); records history on schedule.
    pub async fn run(&mut self, n: usize) -> Result<(), String> {
        if let Some(p) = self
            .trainer
            .record_start()
            .await
            .map_err(|e| e.to_string())?
        {
            self.last_val_nll = p.val_nll;
        }
        for _ in 0..n {
            if self.done() {
                break;
            }
            let (outcome, point) = self
                .trainer
                .step_and_record()
                .await
                .map_err(|e| e.to_string())?;
            if let StepOutcome::Updated { loss } = outcome {
                self.last_loss = Some(loss);
            }
            if let Some(v) = point.and_then(|p| p.val_nll) {
                self.last_val_nll = Some(v);
            }
        }
        Ok(())
    }

    pub fn done(&self) -> bool {
        self.trainer.step >= self.trainer.settings.steps
    }

    pub fn model(&self) -> Flow {
        self.trainer.inference_model()
    }

    /// Base samples pushed through the inverse layers one at a time (stage 0 is the noise, the
    /// last stage the samples [`Self::snapshot`] draws: same noise). A continuous flow's layer
    /// becomes [`CNF_STAGES`] stages, its particles at `t = 1/8, 2/8, …, 1` with the velocity
    /// field at each time (the trajectories view: the scrubber is the time slider).
    pub async fn stages(&self, n: usize) -> Result<Vec<StageView>, String> {
        let model = self.model().with_cnf_steps(PREVIEW_CNF_STEPS);
        let mut rng = Rng::new(SAMPLE_SEED);
        let (z, _) = model.base.sample(n, &mut rng, &self.inference_device);
        let mut out = vec![stage_view("base samples z ~ q₀".into(), z.clone(), None).await?];
        let mut current = z;
        for (k, layer) in model.layers.iter().enumerate().rev() {
            let number = model.layers.len() - k;
            if let Layer::Cnf(cnf) = layer {
                let segments = cnf.inverse_segments(current.clone(), CNF_STAGES);
                for (i, (x, logdet)) in segments.into_iter().enumerate() {
                    let t = (i + 1) as f32 / CNF_STAGES as f32;
                    let label = format!("after layer {number}: cnf at t = {t:.3} (noise → data)");
                    let mut view = stage_view(label, x.clone(), Some(logdet)).await?;
                    view.arrows = self.velocity_arrows(cnf, &view.points, t).await?;
                    out.push(view);
                    current = x;
                }
                continue;
            }
            let (x, logdet) = layer.inverse(current);
            let label = format!("after layer {number}: {} (inverse)", layer_name(&model, k));
            out.push(stage_view(label, x.clone(), Some(logdet)).await?);
            current = x;
        }
        Ok(out)
    }

    /// `v(·, t)` on an [`ARROW_GRID`]² grid over the box the stage's points are drawn in
    /// (the box `web::playground::draw::stage` fits to them).
    async fn velocity_arrows(&self, cnf: &Cnf, points: &[f32], t: f32) -> Result<Vec<f32>, String> {
        let r = super::protocol::stage_radius(points) as f32;
        let mut grid = Vec::with_capacity(2 * ARROW_GRID * ARROW_GRID);
        for i in 0..ARROW_GRID {
            for j in 0..ARROW_GRID {
                let at = |k: usize| -r + 2.0 * r * (k as f32 + 0.5) / ARROW_GRID as f32;
                grid.extend([at(j), at(i)]);
            }
        }
        let n = grid.len() / 2;
        let x = Tensor::from_data(
            TensorData::new(grid.clone(), [n, 2]),
            &self.inference_device,
        );
        let v = read(cnf.velocity(x, t)).await?;
        Ok(grid
            .chunks(2)
            .zip(v.chunks(2))
            .flat_map(|(p, v)| [p[0], p[1], v[0], v[1]])
            .collect())
    }

    /// Density grid ([`GRID_RES`]²), samples and the inversion error for the views. With `live`
    /// (while training) only the part of the grid that fits a frame's budget is evaluated, the
    /// rest keeps its values from earlier frames ([`LiveGrid`]); otherwise all of it. `samples`
    /// are the last of [`Self::stages`] when the caller has them (the same points, without
    /// sampling again), `[x, y]` pairs.
    pub async fn snapshot(
        &mut self,
        live: bool,
        samples: Option<Vec<f32>>,
    ) -> Result<Snapshot, String> {
        let model = self.model();
        // A continuous flow's pictures are integrated in fewer steps (the heatmap alone is
        // 16 384 points; the validation NLL keeps the model's own solver).
        let grid_model = model.clone().with_cnf_steps(PREVIEW_CNF_STEPS);
        let phase = if live {
            self.grid.next_phase()
        } else {
            self.grid.whole()
        };
        let res = self.grid.res();
        let points: Vec<f32> = phase
            .cells
            .iter()
            .flat_map(|&c| self.bounds.cell_centre(res, c))
            .collect();
        let t0 = crate::web::shell::host::now_ms();
        let values = log_prob_rows(&grid_model, &points, 2, &self.inference_device).await?;
        let grid_ms = crate::web::shell::host::now_ms() - t0;
        self.grid.update(&phase, &values, grid_ms);
        // The samples and the inversion check need no log-densities (a continuous flow skips
        // its trace) and integrate like the heatmap.
        let x = match samples {
            Some(points) => {
                let n = points.len() / 2;
                Tensor::from_data(TensorData::new(points, [n, 2]), &self.inference_device)
            }
            None => {
                let mut rng = Rng::new(SAMPLE_SEED);
                let (z, _) = model
                    .base
                    .sample(VIEW_SAMPLES, &mut rng, &self.inference_device);
                grid_model.inverse_points(z)
            }
        };
        // The round trip of the first [`INVERSION_SAMPLES`] samples.
        let checked = x
            .clone()
            .slice([0..x.dims()[0].min(INVERSION_SAMPLES), 0..2]);
        let z = grid_model.transform_points(checked.clone());
        let x_back = grid_model.inverse_points(z);
        let err: Tensor<1> = (x_back - checked).abs().max().reshape([1]);
        let samples = read(x).await?;
        let inversion_error = read(err.reshape([1, 1]))
            .await?
            .first()
            .copied()
            .unwrap_or(f32::NAN);
        Ok(Snapshot {
            grid: self.grid.values().to_vec(),
            res: self.grid.res(),
            grid_stride: phase.stride,
            grid_ms,
            samples,
            inversion_error,
        })
    }
}

/// One stage of the scrubber: its points and its log-det's mean and largest magnitude.
async fn stage_view(
    label: String,
    points: Tensor<2>,
    logdet: Option<Tensor<1>>,
) -> Result<StageView, String> {
    let (mean_logdet, max_abs_logdet) = match logdet {
        Some(ld) => (
            first(read(ld.clone().mean().reshape([1, 1])).await?),
            first(read(ld.abs().max().reshape([1, 1])).await?),
        ),
        None => (0.0, 0.0),
    };
    Ok(StageView {
        label,
        points: read(points).await?,
        mean_logdet,
        max_abs_logdet,
        arrows: Vec::new(),
    })
}

fn first(values: Vec<f32>) -> f32 {
    values.first().copied().unwrap_or(f32::NAN)
}

/// The name of layer `k` of `model`.
fn layer_name(model: &Flow, k: usize) -> &'static str {
    model.config().layers[k].name()
}

async fn read(t: Tensor<2>) -> Result<Vec<f32>, String> {
    Ok(crate::readback::to_host_async(t).await?)
}

/// The target's box, widened to hold user-drawn data with a margin.
fn data_bounds(data: &[f32], default: Bounds) -> Bounds {
    let (mut x0, mut x1, mut y0, mut y1) = (default.x.0, default.x.1, default.y.0, default.y.1);
    for p in data.chunks(2) {
        x0 = x0.min(p[0] as f64 - 0.5);
        x1 = x1.max(p[0] as f64 + 0.5);
        y0 = y0.min(p[1] as f64 - 0.5);
        y1 = y1.max(p[1] as f64 + 0.5);
    }
    Bounds {
        x: (x0, x1),
        y: (y0, y1),
    }
}
