//! `flowplay sample --context y` for an amortised posterior: says first (stderr) how typical
//! `y` is among the simulations the posterior was trained on ([`PriorPredictive`], with a
//! warning outside them), then prints `-n` draws of `q(θ | y)` as `θ…,log_q` rows — or, with
//! `--reweight`, of the posterior corrected by importance weights against the problem's known
//! prior and likelihood ([`crate::inverse::reweight`]), with the effective sample size.

use std::io::Write;

use burn::tensor::Device;

use crate::flows::Flow;
use crate::inverse::fit::posterior_samples;
use crate::inverse::predictive::{PREDICTIVE_SEED, PriorPredictive};
use crate::inverse::reweight::{Budget, corrected_posterior};
use crate::model_file::PosteriorMeta;
use crate::rng::Rng;

/// What `sample` asked of a posterior.
#[derive(Clone, Copy, Debug)]
pub struct DrawRequest {
    /// Draws printed.
    pub n: usize,
    pub seed: u64,
    /// Correct them by importance weights.
    pub reweight: bool,
    /// Proposals of the correction's first round (`None`: [`Budget::new`]'s).
    pub proposals: Option<usize>,
}

/// Draws for observation `y` of a posterior `p` trained with noise `noise`, written to `out`.
pub fn write_draws(
    a: DrawRequest,
    flow: &Flow,
    p: &PosteriorMeta,
    noise: f64,
    y: &[f32],
    mut out: impl Write,
    device: &Device,
) -> Result<(), String> {
    let y: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
    let typical = PriorPredictive::simulate(p.problem, noise, PREDICTIVE_SEED).check(&y);
    eprintln!("{}", typical.describe());
    if typical.warning && !a.reweight {
        eprintln!(
            "hint: --reweight corrects the draws with the {} problem's known likelihood",
            p.problem.name()
        );
    }
    let mut rng = Rng::new(a.seed);
    let (draws, log_q) = if a.reweight {
        let mut budget = Budget::new(a.n);
        if let Some(p) = a.proposals {
            if p == 0 {
                return Err("--proposals must be positive".into());
            }
            budget.proposals = p;
            budget.max_proposals = 16 * p;
        }
        let c = corrected_posterior(
            p.method, flow, p.problem, noise, &y, budget, &mut rng, device,
        )
        .map_err(|e| e.to_string())?;
        eprintln!("{}", c.describe());
        (c.draws, c.log_q)
    } else {
        // In chunks, as every other sampler, so that a large -n stays within memory.
        let (mut draws, mut log_q) = (Vec::new(), Vec::new());
        let mut left = a.n;
        while left > 0 {
            let m = left.min(crate::evaluate::CHUNK);
            let (x, lq) = posterior_samples(p.method, flow, p.problem, &y, m, &mut rng, device)?;
            draws.extend(x);
            log_q.extend(lq.unwrap_or_else(|| vec![f64::NAN; m]));
            left -= m;
        }
        (draws, log_q)
    };
    let d = p.problem.theta_dim();
    for (row, l) in draws.chunks(d).zip(log_q) {
        let cols: Vec<String> = row.iter().map(|&v| (v as f32).to_string()).collect();
        writeln!(out, "{},{}", cols.join(","), l as f32).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
