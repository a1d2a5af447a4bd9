//! The label head of a hybrid model (Nalisnick et al. 2019, "Hybrid Models with Deep and
//! Invertible Features", ICML, §3): a linear softmax classifier on the flow's latent,
//! `p(y | x) = softmax(f(x) W + b)_y`, trained with the flow on
//! `−log p(y | x) − λ·log p(x)` so that one invertible network gives both a density and a
//! discriminative classifier. Here the objective is written per image as
//! `(−log p(x)) / (D ln 2) + β·(−log p(y | x))` (bits/dim plus `β` times the label NLL in nats),
//! i.e. Nalisnick's `λ = 1 / (β D ln 2)`; `β` is stored with the head so that a resumed run
//! keeps its objective.
//!
//! # Shapes
//! latent `z [n, D]`, `W [D, K]`, `b [K]`, logits `[n, K]`.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// What a [`LabelHead`] is: its input size `D`, class count `K` and the objective's weight `β`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabelHeadConfig {
    /// `D`: the flow's dimension (the head reads the whole latent).
    pub input: usize,
    /// `K` classes.
    pub classes: usize,
    /// `β`, the weight of the label NLL (nats) against the bits/dim of `p(x)` in training.
    pub label_weight: f64,
}

impl LabelHeadConfig {
    /// The numbers are usable for a flow of dimension `dim`.
    pub fn check(&self, dim: usize) -> Result<(), String> {
        if self.input != dim {
            return Err(format!(
                "the label head reads {} values but the flow has {dim}",
                self.input
            ));
        }
        if !(2..=super::validate::MAX_CONTEXT).contains(&self.classes) {
            return Err(format!(
                "the label head needs 2 to {} classes, not {}",
                super::validate::MAX_CONTEXT,
                self.classes
            ));
        }
        if !(self.label_weight.is_finite() && self.label_weight >= 0.0) {
            return Err(format!(
                "the label weight must be finite and ≥ 0, not {}",
                self.label_weight
            ));
        }
        Ok(())
    }

    /// The values [`Self::init`] allocates.
    pub fn allocation_bound(&self) -> u128 {
        (self.input as u128 + 1) * self.classes as u128
    }

    /// A head that starts at zero: every class equally likely.
    pub fn init(&self, device: &Device) -> LabelHead {
        LabelHead {
            weight: Param::from_tensor(Tensor::zeros([self.input, self.classes], device)),
            bias: Param::from_tensor(Tensor::zeros([self.classes], device)),
        }
    }
}

/// `z ↦ z W + b` (see the module docs).
#[derive(Module, Debug)]
pub struct LabelHead {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl LabelHead {
    /// The class logits of latents `z [n, D]`: `[n, K]`.
    pub fn logits(&self, z: Tensor<2>) -> Tensor<2> {
        z.matmul(self.weight.val()) + self.bias.val().unsqueeze_dim(0)
    }
}

/// `log softmax(logits)` row by row, `[n, K] → [n, K]` (max-shifted for stability).
pub fn log_softmax(logits: Tensor<2>) -> Tensor<2> {
    let max = logits.clone().max_dim(1).detach();
    let shifted = logits - max;
    let lse = shifted.clone().exp().sum_dim(1).log();
    shifted - lse
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn log_softmax_matches_the_host_formula() {
        let device = crate::device::cpu();
        let v = [1.0f32, 2.0, 3.0, -50.0, 0.0, 50.0];
        let t = Tensor::<2>::from_data(TensorData::new(v.to_vec(), [2, 3]), &device);
        let got = crate::testing::host(log_softmax(t));
        for (row, out) in v.chunks(3).zip(got.chunks(3)) {
            let lse =
                crate::numeric::log_sum_exp(&row.iter().map(|&x| x as f64).collect::<Vec<_>>());
            for (x, y) in row.iter().zip(out) {
                assert!(((*x as f64 - lse) - *y as f64).abs() < 1e-5, "{x} {y}");
            }
        }
    }

    #[test]
    fn a_fresh_head_gives_every_class_the_same_probability() {
        let device = crate::device::cpu();
        let head = LabelHeadConfig {
            input: 4,
            classes: 5,
            label_weight: 1.0,
        }
        .init(&device);
        let z = Tensor::<2>::from_data(TensorData::new(vec![0.3f32; 8], [2, 4]), &device);
        let lp = crate::testing::host(log_softmax(head.logits(z)));
        assert!(lp.iter().all(|v| (v + 5f32.ln()).abs() < 1e-6));
    }

    #[test]
    fn bad_numbers_are_named() {
        let c = LabelHeadConfig {
            input: 4,
            classes: 10,
            label_weight: 1.0,
        };
        assert!(c.check(4).is_ok());
        assert!(c.check(5).unwrap_err().contains("reads 4 values"));
        let one = LabelHeadConfig { classes: 1, ..c };
        assert!(one.check(4).unwrap_err().contains("classes"));
        let nan = LabelHeadConfig {
            label_weight: f64::NAN,
            ..c
        };
        assert!(nan.check(4).unwrap_err().contains("label weight"));
    }
}
