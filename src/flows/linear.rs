//! Invertible linear layers, in row-vector form `z = x W + b`, `log|det| = log|det W|`.
//!
//! - [`NaiveLinear`]: a full matrix `W [D, D]`. `log|det W|` and `W⁻¹` come from an LU
//!   factorisation with partial pivoting on the host (f64), `O(D³)` per call; gradients are
//!   exact through first-order surrogates: `∂ log|det W|/∂W = W⁻ᵀ` and `d(W⁻¹) = −W⁻¹ dW W⁻¹`.
//!   It reads the weights back synchronously, so it is for native and CPU use (nflows'
//!   `NaiveLinear`).
//! - [`LuLinear`]: `W = L U` with `L` unit lower triangular and `U` upper triangular with
//!   diagonal `softplus(·) + ε > 0` (Kingma & Dhariwal 2018, Glow, arXiv:1807.03039, §3.2);
//!   `log|det| = Σ log U_jj` in `O(D)`, inverse by two triangular solves. Starts at the identity.
//!
//! # Shapes
//! `W, L, U: [D, D]`, `b: [1, D]`; inputs `[batch, D]`, log-dets `[batch]`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData, activation::softplus};

use super::Bijection;
use super::LayerSpec;
use super::dense::dense_logdet_and_inverse;
use super::validate::dense;

const DIAG_EPS: f32 = 1e-3;

/// Config of [`NaiveLinear`].
#[derive(Config, Debug, PartialEq)]
pub struct NaiveLinearConfig {
    pub dim: usize,
}

impl NaiveLinearConfig {
    /// `W = I + N(0, 0.01²)` noise, `b = 0`.
    pub fn init(&self, device: &Device) -> NaiveLinear {
        let d = self.dim;
        let noise = Tensor::<2>::random([d, d], Distribution::Normal(0.0, 0.01), device);
        NaiveLinear {
            weight: Param::from_tensor(Tensor::eye(d, device) + noise),
            bias: Param::from_tensor(Tensor::zeros([1, d], device)),
        }
    }
}

/// A full-matrix linear layer.
#[derive(Module, Debug)]
pub struct NaiveLinear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<2>>,
}

impl NaiveLinear {
    /// `(log|det W|` with gradient `W⁻ᵀ`, `W⁻¹` with first-order gradient
    /// `d(W⁻¹) = −W⁻¹ dW W⁻¹)`.
    fn logdet_and_inverse(&self) -> (Tensor<1>, Tensor<2>) {
        let w = self.weight.val();
        let (logdet, w_inv) = dense_logdet_and_inverse(w.clone());
        let inv_live = w_inv.clone() - w_inv.clone().matmul(w.clone() - w.detach()).matmul(w_inv);
        (logdet, inv_live)
    }
}

impl SharedLogdet for NaiveLinear {
    fn forward_shared(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (logdet, _) = self.logdet_and_inverse();
        let z = x.matmul(self.weight.val()) + self.bias.val();
        (z, logdet.reshape([1]))
    }

    fn inverse_shared(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (logdet, w_inv) = self.logdet_and_inverse();
        let x = (z - self.bias.val()).matmul(w_inv);
        (x, logdet.reshape([1]).neg())
    }
}

/// A linear map's forward and inverse with its log-det once, `[1]`: it is the same for every
/// row, so a caller that applies it to many rows per sample (the 1×1 convolution, once per
/// pixel) scales it instead of summing a copy per row.
pub trait SharedLogdet {
    /// `(x W + b, log|det W|)`, `x [m, D]`.
    fn forward_shared(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>);
    /// `((z − b) W⁻¹, −log|det W|)`, `z [m, D]`.
    fn inverse_shared(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>);
}

/// Every [`SharedLogdet`] map is a bijection on rows, its log-det repeated for each.
macro_rules! bijection_with_shared_logdet {
    ($($layer:ty),*) => {$(
        impl Bijection for $layer {
            fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
                let [n, _] = x.dims();
                let (z, ld) = self.forward_shared(x);
                (z, ld.repeat_dim(0, n))
            }

            fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
                let [n, _] = z.dims();
                let (x, ld) = self.inverse_shared(z);
                (x, ld.repeat_dim(0, n))
            }
        }
    )*};
}

bijection_with_shared_logdet!(NaiveLinear, LuLinear);

/// Config of [`LuLinear`].
#[derive(Config, Debug, PartialEq)]
pub struct LuLinearConfig {
    pub dim: usize,
}

impl LuLinearConfig {
    /// Identity at initialisation: `L = I`, `U = I`, `b = 0`.
    pub fn init(&self, device: &Device) -> LuLinear {
        let d = self.dim;
        let diag0 = ((1.0 - DIAG_EPS).exp() - 1.0).ln();
        LuLinear {
            lower: Param::from_tensor(Tensor::zeros([d, d], device)),
            upper: Param::from_tensor(Tensor::zeros([d, d], device)),
            diag_raw: Param::from_tensor(Tensor::full([1, d], diag0, device)),
            bias: Param::from_tensor(Tensor::zeros([1, d], device)),
        }
    }
}

impl LuLinear {
    /// The layer `z = x U + b` for an upper-triangular `U` (row-major `[D, D]`; `L = I`) and a
    /// bias `b [D]`, on `device` (a Gaussian's whitening, `crate::train::gaussian_baseline`).
    /// An error when a diagonal entry is not above the layer's floor `ε = 10⁻³` (its scales are
    /// `softplus(·) + ε`) or the sizes disagree.
    pub fn from_upper(upper: &[f64], bias: &[f64], device: &Device) -> Result<Self, String> {
        let d = bias.len();
        if upper.len() != d * d {
            return Err(format!(
                "a {d}-wide layer needs {} weights, got {}",
                d * d,
                upper.len()
            ));
        }
        let mut strict = vec![0.0f32; d * d];
        let mut diag_raw = Vec::with_capacity(d);
        for i in 0..d {
            for j in i + 1..d {
                strict[i * d + j] = upper[i * d + j] as f32;
            }
            let v = upper[i * d + i] - DIAG_EPS as f64;
            if !(v > 0.0 && v.is_finite()) {
                return Err(format!(
                    "diagonal entry {i} is {}, not above the LU layer's floor {DIAG_EPS}",
                    upper[i * d + i]
                ));
            }
            // softplus⁻¹(v) = log(eᵛ − 1), written to stay finite for large v.
            diag_raw.push((v + (-(-v).exp_m1()).ln()) as f32);
        }
        let row = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [1, d]), device);
        Ok(Self {
            lower: Param::from_tensor(Tensor::zeros([d, d], device)),
            upper: Param::from_tensor(Tensor::from_data(TensorData::new(strict, [d, d]), device)),
            diag_raw: Param::from_tensor(row(diag_raw)),
            bias: Param::from_tensor(row(bias.iter().map(|&b| b as f32).collect())),
        })
    }
}

/// An LU-decomposed linear layer.
#[derive(Module, Debug)]
pub struct LuLinear {
    /// Strictly-lower part of `L` (the rest is ignored).
    pub lower: Param<Tensor<2>>,
    /// Strictly-upper part of `U` (the rest is ignored).
    pub upper: Param<Tensor<2>>,
    /// `U_jj = softplus(diag_raw_j) + ε`.
    pub diag_raw: Param<Tensor<2>>,
    pub bias: Param<Tensor<2>>,
}

/// `[strictly below the diagonal, strictly above it, the identity]` as 0/1 matrices `[D, D]`,
/// built on the host and uploaded: one buffer write each. Burn's `tril`, `triu` and `eye` build
/// theirs on the device from `arange`s, ≈ 25 kernel launches per call on a GPU, which made
/// [`LuLinear::factors`] most of the `CumulativeKernel`, `FullKernel` and scatter launches of a
/// Glow training step (`benches/kernel-launches.sh`). Multiplying by a 0/1 mask gives the same
/// values as `tril`/`triu`'s fill, and the same gradient.
fn triangle_masks(d: usize, device: &Device) -> [Tensor<2>; 3] {
    let mask = |keep: fn(usize, usize) -> bool| {
        let values: Vec<f32> = (0..d * d)
            .map(|k| if keep(k / d, k % d) { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_data(TensorData::new(values, [d, d]), device)
    };
    [mask(|i, j| i > j), mask(|i, j| i < j), mask(|i, j| i == j)]
}

impl LuLinear {
    /// `(L, U, diag U [1, D])`.
    fn factors(&self) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let lower = self.lower.val();
        let [d, _] = lower.dims();
        let [below, above, eye] = triangle_masks(d, &lower.device());
        let diag = softplus(self.diag_raw.val(), 1.0).add_scalar(DIAG_EPS);
        let l = lower * below + eye.clone();
        let u = self.upper.val() * above + eye * diag.clone();
        (l, u, diag)
    }

    /// The dense matrix `W = L U` (for tests and inspection).
    pub fn weight(&self) -> Tensor<2> {
        let (l, u, _) = self.factors();
        l.matmul(u)
    }
}

impl SharedLogdet for LuLinear {
    fn forward_shared(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (l, u, diag) = self.factors();
        let z = x.matmul(l).matmul(u) + self.bias.val();
        (z, diag.log().sum().reshape([1]))
    }

    fn inverse_shared(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [_, d] = z.dims();
        let (l, u, diag) = self.factors();
        let r = z - self.bias.val();
        // y U = r, U upper: y_j = (r_j − Σ_{i<j} y_i U_ij) / U_jj, for j = 0..D.
        let mut y: Vec<Tensor<2>> = Vec::with_capacity(d);
        for j in 0..d {
            let mut v = r.clone().narrow(1, j, 1);
            if j > 0 {
                let prev = Tensor::cat(y.clone(), 1);
                v = v - prev.matmul(u.clone().slice([0..j, j..j + 1]));
            }
            y.push(v / u.clone().slice([j..j + 1, j..j + 1]));
        }
        // x L = y, L unit lower: x_j = y_j − Σ_{i>j} x_i L_ij, for j = D−1..0.
        let mut x: Vec<Tensor<2>> = vec![y[d - 1].clone(); d];
        for j in (0..d.saturating_sub(1)).rev() {
            let later = Tensor::cat(x[j + 1..].to_vec(), 1);
            x[j] = y[j].clone() - later.matmul(l.clone().slice([j + 1..d, j..j + 1]));
        }
        (Tensor::cat(x, 1), diag.log().sum().reshape([1]).neg())
    }
}

impl LayerSpec for NaiveLinearConfig {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dense("dim", self.dim)
    }

    fn allocation_bound(&self) -> u128 {
        3 * (self.dim as u128).pow(2) + self.dim as u128
    }
}

impl LayerSpec for LuLinearConfig {
    fn name(&self) -> &'static str {
        "LU linear"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn check(&self) -> Result<(), String> {
        dense("dim", self.dim)
    }

    fn allocation_bound(&self) -> u128 {
        3 * (self.dim as u128).pow(2) + 2 * self.dim as u128
    }
}
