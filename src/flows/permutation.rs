//! Fixed permutations of the coordinates: `z_j = x_{π(j)}`, `log|det| = 0`. Used between
//! coupling and autoregressive layers so every coordinate gets transformed (reverse order as in
//! MAF/nflows, or a seeded random permutation).
//!
//! # Shapes
//! inputs `[batch, D]`, log-dets `[batch]` (zeros).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::LayerSpec;
use super::validate::dim;
use super::{Bijection, zeros_like_batch};
use crate::rng::Rng;

/// Config of [`Permutation`]: `indices[j]` is the input coordinate that lands at output `j`.
#[derive(Config, Debug, PartialEq)]
pub struct PermutationConfig {
    pub indices: Vec<usize>,
}

impl PermutationConfig {
    /// `D−1, …, 0`.
    pub fn reverse(dim: usize) -> Self {
        Self::new((0..dim).rev().collect())
    }

    /// A uniformly random permutation drawn from `seed`.
    pub fn random(dim: usize, seed: u64) -> Self {
        Self::new(Rng::new(seed).permutation(dim))
    }

    pub fn init(&self, _device: &Device) -> Permutation {
        let mut inverse = vec![0; self.indices.len()];
        for (j, &i) in self.indices.iter().enumerate() {
            inverse[i] = j;
        }
        Permutation {
            indices: self.indices.clone(),
            inverse,
        }
    }
}

/// A fixed permutation (no parameters).
#[derive(Module, Debug)]
pub struct Permutation {
    #[module(skip)]
    pub indices: Vec<usize>,
    #[module(skip)]
    pub inverse: Vec<usize>,
}

fn gather_columns(x: Tensor<2>, order: &[usize]) -> Tensor<2> {
    let idx: Vec<i64> = order.iter().map(|&i| i as i64).collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [order.len()]), &x.device());
    x.select(1, idx)
}

impl Bijection for Permutation {
    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let ld = zeros_like_batch(&x);
        (gather_columns(x, &self.indices), ld)
    }
    fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let ld = zeros_like_batch(&z);
        (gather_columns(z, &self.inverse), ld)
    }
}

impl LayerSpec for PermutationConfig {
    fn name(&self) -> &'static str {
        "permutation"
    }

    fn dim(&self) -> usize {
        self.indices.len()
    }

    fn check(&self) -> Result<(), String> {
        dim("permutation length", self.indices.len())?;
        let mut seen = vec![false; self.indices.len()];
        for &i in &self.indices {
            match seen.get_mut(i) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(format!(
                        "the permutation's indices are not a permutation of 0..{} (index {i})",
                        self.indices.len()
                    ));
                }
            }
        }
        Ok(())
    }

    fn allocation_bound(&self) -> u128 {
        2 * self.indices.len() as u128
    }
}
