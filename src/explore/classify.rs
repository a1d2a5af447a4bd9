//! Classification with a flow, two ways:
//! - **generative** (a class-conditional flow): `p(y | x) ∝ p(x | y) p(y)` (Bayes' rule with a
//!   uniform `p(y) = 1/K`), each `log p(x | y)` exact from the flow with the one-hot label as its
//!   context, and the marginal `log p(x) = logsumexp_y log p(x | y) − log K`;
//! - **hybrid** (Nalisnick et al. 2019; [`crate::flows::label_head`]): an unconditional flow whose
//!   linear head reads `p(y | x) = softmax(f(x) W + b)` from the latent, `log p(x)` from the flow.
//!
//! Both give the model's bits/dim as an unconditional density and the usual figures of a classifier:
//! accuracy, the NLL of the true labels `−log p(y | x)`, and the expected calibration error
//! (Guo et al. 2017, eq. 3: 15 equal-width bins of the top confidence,
//! `ECE = Σ_b (n_b/n) |acc_b − conf_b|`).
//!
//! # Shapes
//! images `x [n, D]`; one-hot labels `[n, K]`; class log-likelihoods `[n, K]` (host `f64`).

use crate::numeric::log_sum_exp;
use burn::tensor::Tensor;
use serde::Serialize;

use crate::flows::Flow;
use crate::images::bits_per_dim;
use crate::images::labels::one_hot;
use crate::readback::{ReadbackError, to_host_async};

/// `log p(x | y)` for every image and class, `[n][K]`: one flow pass over the `n·K` rows
/// (the batch repeated once per class).
pub async fn class_log_likelihoods(
    flow: &Flow,
    x: Tensor<2>,
    k: usize,
) -> Result<Vec<Vec<f64>>, ReadbackError> {
    let [n, _] = x.dims();
    let device = x.device();
    let labels: Vec<u8> = (0..k)
        .flat_map(|y| std::iter::repeat_n(y as u8, n))
        .collect();
    let context = one_hot(&labels, k, &device);
    let lp = flow.log_prob_given(x.repeat_dim(0, k), Some(&context));
    let lp: Vec<f64> = to_host_async(lp).await?;
    Ok((0..n)
        .map(|i| (0..k).map(|y| lp[y * n + i]).collect())
        .collect())
}

/// How a model classifies, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classifier {
    /// A class-conditional flow (Bayes' rule over `p(x | y)`).
    Generative { classes: usize },
    /// An unconditional flow with a label head on its latent.
    Hybrid { classes: usize },
}

impl Classifier {
    /// The model's classifier: `None` for a flow that has neither labels in its base nor a head.
    pub fn of(flow: &Flow) -> Option<Self> {
        Self::of_config(flow.config())
    }

    /// [`Self::of`] from the architecture alone.
    pub fn of_config(config: &crate::flows::FlowConfig) -> Option<Self> {
        match (config.classes(), config.head_classes()) {
            (Some(classes), _) => Some(Self::Generative { classes }),
            (None, Some(classes)) => Some(Self::Hybrid { classes }),
            (None, None) => None,
        }
    }

    pub fn classes(&self) -> usize {
        match *self {
            Self::Generative { classes } | Self::Hybrid { classes } => classes,
        }
    }

    /// A short name for tables and the page: "generative" or "hybrid".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Generative { .. } => "generative",
            Self::Hybrid { .. } => "hybrid",
        }
    }
}

/// What a classifier says of one image.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassScores {
    /// `log p(y | x)` up to a constant shared by the classes, `[K]`.
    pub log_scores: Vec<f64>,
    /// `log p(x)`.
    pub log_px: f64,
    /// `log p(x | y)` for each class where the model has it (generative), else `None`.
    pub log_px_given: Option<Vec<f64>>,
}

impl ClassScores {
    /// A generative classifier's scores from its class log-likelihoods `log p(x | y)`.
    pub fn generative(log_lik: &[f64]) -> Self {
        Self {
            log_scores: log_lik.to_vec(),
            log_px: marginal_log_likelihood(log_lik),
            log_px_given: Some(log_lik.to_vec()),
        }
    }
}

/// The scores of every image in `x [n, D]` under the model's classifier `c`: one pass per
/// class for a generative model ([`class_log_likelihoods`]), one pass in all for a hybrid one.
pub async fn class_scores(
    flow: &Flow,
    c: Classifier,
    x: Tensor<2>,
) -> Result<Vec<ClassScores>, ReadbackError> {
    match c {
        Classifier::Generative { classes } => Ok(class_log_likelihoods(flow, x, classes)
            .await?
            .iter()
            .map(|l| ClassScores::generative(l))
            .collect()),
        Classifier::Hybrid { classes } => {
            let (log_px, log_py) = flow.log_prob_and_labels(x);
            let log_px: Vec<f64> = to_host_async(log_px).await?;
            let log_py: Vec<f64> = match log_py {
                Some(t) => to_host_async(t).await?,
                None => vec![f64::NAN; log_px.len() * classes],
            };
            Ok(log_px
                .iter()
                .zip(log_py.chunks(classes))
                .map(|(&lp, ly)| ClassScores {
                    log_scores: ly.to_vec(),
                    log_px: lp,
                    log_px_given: None,
                })
                .collect())
        }
    }
}

/// `p(y | x)` from the class log-likelihoods of one image (uniform class prior).
pub fn posterior(log_lik: &[f64]) -> Vec<f64> {
    let z = log_sum_exp(log_lik);
    log_lik.iter().map(|l| (l - z).exp()).collect()
}

/// `log p(x) = logsumexp_y log p(x | y) − log K`.
pub fn marginal_log_likelihood(log_lik: &[f64]) -> f64 {
    log_sum_exp(log_lik) - (log_lik.len() as f64).ln()
}

/// What [`ClassifierScores`] adds up to.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassifierReport {
    pub images: usize,
    pub accuracy: f64,
    /// Mean `−log p(y_true | x)` in nats.
    pub label_nll: f64,
    /// Expected calibration error over 15 bins.
    pub ece: f64,
    /// Bits/dim of the marginal `p(x)`.
    pub bits_per_dim: f64,
    /// Bits/dim of `p(x | y_true)` (a hybrid model: of `p(x)`, it has no `p(x | y)`).
    pub bits_per_dim_given_label: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Running sums of a classifier's figures, fed one image at a time.
#[derive(Clone, Debug)]
pub struct ClassifierScores {
    d: usize,
    n: usize,
    correct: usize,
    label_nll: f64,
    bpd: f64,
    bpd_given: f64,
    /// Per confidence bin: (count, correct, confidence sum).
    bins: [(usize, usize, f64); 15],
    confusion: Vec<Vec<usize>>,
}

impl ClassifierScores {
    /// For images of `d` values and `k` classes.
    pub fn new(d: usize, k: usize) -> Self {
        Self {
            d,
            n: 0,
            correct: 0,
            label_nll: 0.0,
            bpd: 0.0,
            bpd_given: 0.0,
            bins: [(0, 0, 0.0); 15],
            confusion: vec![vec![0; k]; k],
        }
    }

    /// Adds one image with true label `y` and its class log-likelihoods (a generative model).
    pub fn add(&mut self, y: usize, log_lik: &[f64]) {
        self.add_scores(y, &ClassScores::generative(log_lik));
    }

    /// Adds one image with true label `y` and what the classifier said of it.
    pub fn add_scores(&mut self, y: usize, scores: &ClassScores) {
        let p = posterior(&scores.log_scores);
        let (pred, conf) =
            p.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, v)| if v > b.1 { (i, v) } else { b },
                );
        self.n += 1;
        let hit = pred == y;
        self.correct += usize::from(hit);
        self.label_nll -= p.get(y).copied().unwrap_or(0.0).max(1e-300).ln();
        self.bpd += bits_per_dim(scores.log_px, self.d);
        let given = match &scores.log_px_given {
            Some(l) => l.get(y).copied().unwrap_or(f64::NAN),
            None => scores.log_px,
        };
        self.bpd_given += bits_per_dim(given, self.d);
        let b = ((conf * 15.0) as usize).min(14);
        self.bins[b].0 += 1;
        self.bins[b].1 += usize::from(hit);
        self.bins[b].2 += conf;
        if y < self.confusion.len() {
            self.confusion[y][pred] += 1;
        }
    }

    pub fn report(&self) -> ClassifierReport {
        let n = self.n.max(1) as f64;
        let ece = self
            .bins
            .iter()
            .filter(|b| b.0 > 0)
            .map(|&(c, k, s)| (c as f64 / n) * (k as f64 / c as f64 - s / c as f64).abs())
            .sum();
        ClassifierReport {
            images: self.n,
            accuracy: self.correct as f64 / n,
            label_nll: self.label_nll / n,
            ece,
            bits_per_dim: self.bpd / n,
            bits_per_dim_given_label: self.bpd_given / n,
            confusion: self.confusion.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bayes_rule_and_the_marginal() {
        let ll = [-10.0, -10.0 + 2f64.ln(), -f64::INFINITY];
        let p = posterior(&ll);
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-12 && (p[1] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(p[2], 0.0);
        let m = marginal_log_likelihood(&ll);
        assert!((m - (-10.0 + 3f64.ln() - 3f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn scores_count_accuracy_and_calibration() {
        let mut s = ClassifierScores::new(4, 2);
        // Two confident right answers, one confident wrong one (confidence ≈ 0.9 each).
        let confident = [0.0, -(9f64.ln())];
        s.add(0, &confident);
        s.add(0, &confident);
        s.add(1, &confident);
        let r = s.report();
        assert!((r.accuracy - 2.0 / 3.0).abs() < 1e-12);
        // All three in the 0.9 bin: |2/3 − 0.9|.
        assert!((r.ece - (0.9 - 2.0 / 3.0)).abs() < 1e-9, "{}", r.ece);
        assert_eq!(r.confusion, vec![vec![2, 0], vec![1, 0]]);
        let nll = (-(0.9f64.ln()) * 2.0 - 0.1f64.ln()) / 3.0;
        assert!((r.label_nll - nll).abs() < 1e-9);
    }
}
