//! `flowplay train --resume`: the saved run state, the options a resumed run may not change,
//! and the trainer rebuilt from `last.flow`, `state.json` and `optimizer.bpk`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TrainArgs;
use crate::presets::Preset;
use crate::rng::Rng;
use crate::train::images::ImageTrainer;
use crate::train::params::{param_shapes, with_param_ids};

/// What `--resume` needs besides the weights (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResumeState {
    pub preset: Preset,
    /// Epochs completed.
    pub epoch: usize,
    pub step: usize,
    /// Steps done of the epoch under way: `--resume` skips that many batches of its order.
    #[serde(default)]
    pub step_in_epoch: usize,
    /// The dequantisation noise generator where the run stopped (older states: none, and the
    /// generator restarts from the seed and the epoch).
    #[serde(default)]
    pub rng_state: Option<u64>,
    /// The best validation objective: bits/dim, or for a hybrid model bits/dim + β·label NLL
    /// (the field keeps its first name so that older states load).
    pub best_val_bpd: Option<f64>,
    /// The validation bits/dim of the epoch with the best objective (older states: none).
    #[serde(default)]
    pub best_epoch_bpd: Option<f64>,
    pub lambda: f64,
    pub seconds: f64,
    /// Parameter ids in visiting order: `optimizer.bpk` (Adam's moments) is keyed by them.
    #[serde(default)]
    pub param_ids: Vec<u64>,
}

/// A resumed run continues with its saved settings: the options that would change them are
/// refused, by name.
pub fn refuse_overrides(args: &TrainArgs) -> Result<(), String> {
    let fixed = [
        ("--batch", args.batch.is_some()),
        ("--lr", args.lr.is_some()),
        ("--width", args.width.is_some()),
        ("--depth", args.depth.is_some()),
        ("--levels", args.levels.is_some()),
        ("--lambda", args.lambda.is_some()),
        ("--symmetric", args.symmetric),
        ("--no-logit", args.no_logit),
        ("--logit-alpha", args.logit_alpha.is_some()),
        ("--warmup", args.warmup.is_some()),
        ("--clip", args.clip.is_some()),
        ("--seed", args.seed.is_some()),
        ("--train-images", args.train_images.is_some()),
        ("--val-images", args.val_images.is_some()),
        ("--eval-every", args.eval_every.is_some()),
    ];
    let given: Vec<&str> = fixed
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(format!(
        "--resume continues with the run's saved settings; {} cannot change them (only \
         --epochs, --max-steps, --test-images, --temperature, --device and --data-dir apply)",
        given.join(", ")
    ))
}

/// A run state from the text of a `state.json`, its training settings checked.
pub fn parse_state(text: &str) -> Result<ResumeState, String> {
    let state: ResumeState =
        serde_json::from_str(text).map_err(|e| format!("not a run state ({e})"))?;
    state
        .preset
        .train
        .check()
        .map_err(|e| format!("unusable settings: {e}"))?;
    Ok(state)
}

/// Reads `out/state.json`, checking that it belongs to `preset` when one is named.
pub fn load_state(out: &Path, preset: Option<&str>) -> Result<ResumeState, String> {
    let path = out.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "--resume: cannot read {} ({e}); is this the directory of an earlier run?",
            path.display()
        )
    })?;
    let state = parse_state(&text).map_err(|e| format!("--resume: {}: {e}", path.display()))?;
    if let Some(name) = preset
        && crate::presets::canonical_name(name) != state.preset.name
    {
        return Err(format!(
            "--resume: {} holds a run of preset '{}', not '{name}'",
            out.display(),
            state.preset.name
        ));
    }
    Ok(state)
}

/// The trainer of a saved run: `last.flow`'s weights, Adam's moments from `optimizer.bpk` when
/// they were saved, and the step, λ and data order where the run stopped.
pub fn resume_trainer(
    p: &Preset,
    state: &ResumeState,
    out: &Path,
    device: &burn::tensor::Device,
) -> Result<ImageTrainer, String> {
    let (flow, _) = crate::model_file::load(&out.join("last.flow"), device)
        .map_err(|e| format!("--resume: {e}"))?;
    let optim_path = out.join("optimizer.bpk");
    let (flow, record) = if state.param_ids.is_empty() || !optim_path.is_file() {
        eprintln!("--resume: no saved optimizer state; Adam's moments start afresh");
        (flow, None)
    } else {
        let named = |e: String| format!("--resume: {}: {e}", optim_path.display());
        let bytes = std::fs::read(&optim_path)
            .map_err(|e| format!("--resume: cannot read {}: {e}", optim_path.display()))?;
        let flow = with_param_ids(flow, &state.param_ids).map_err(|e| format!("--resume: {e}"))?;
        check_optimizer_state(&bytes, &param_shapes(&flow)).map_err(named)?;
        let record =
            burn::optim::OptimizerRecord::from_bytes(burn_pack::Bytes::from_bytes_vec(bytes))
                .map_err(|e| named(format!("{e:?}")))?;
        (flow, Some(record))
    };
    let mut t = ImageTrainer::resume(flow, p.train.clone(), device);
    t.step = state.step;
    match record {
        Some(r) => t.load_optimizer(r),
        None => {
            t.warmup_start = state.step;
            eprintln!(
                "--resume: the learning rate warms up again over {} steps",
                p.train.warmup_steps
            );
        }
    }
    t.lambda = state.lambda;
    t.rng = match state.rng_state {
        Some(s) => Rng::from_state(s),
        None => Rng::new(p.train.seed ^ (state.epoch as u64 + 1).wrapping_mul(0x9E37)),
    };
    Ok(t)
}

/// An optimizer state (`optimizer.bpk`, Burn's burnpack format) fits the model whose parameters
/// have the ids and `shapes` given: every tensor in it belongs to one of those parameters and
/// has that parameter's shape (Adam's moments do). Checked before Adam reads it: a state of the
/// right count but other shapes would otherwise reach the update kernels.
pub fn check_optimizer_state(bytes: &[u8], shapes: &[(u64, Vec<usize>)]) -> Result<(), String> {
    let reader = burn_pack::Reader::from_bytes(burn_pack::Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| format!("not an optimizer state ({e})"))?;
    let tensors = reader
        .into_tensors()
        .map_err(|e| format!("not an optimizer state ({e})"))?;
    let by_id: std::collections::HashMap<u64, &[usize]> =
        shapes.iter().map(|(id, s)| (*id, s.as_slice())).collect();
    for t in tensors {
        let id = t
            .param_id
            .ok_or_else(|| format!("its tensor '{}' belongs to no parameter", t.name))?;
        let want = by_id.get(&id).ok_or_else(|| {
            format!(
                "its tensor '{}' belongs to a parameter the model does not have",
                t.name
            )
        })?;
        if t.shape.as_slice() != *want {
            return Err(format!(
                "its tensor '{}' has shape {:?}, the parameter it belongs to {:?}",
                t.name,
                t.shape.as_slice(),
                want
            ));
        }
    }
    Ok(())
}
