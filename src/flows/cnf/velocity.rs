//! The velocity field `v(x, t)` of a continuous flow: an MLP on `[x, φ(t)]` with SiLU
//! activations, and the trace of its Jacobian `tr ∂v/∂x` that the instantaneous change of
//! variables integrates (Chen et al. 2018, "Neural Ordinary Differential Equations",
//! arXiv:1806.07366, Theorem 1).
//!
//! - Time embedding `φ(t) = [t, sin(2πkt), cos(2πkt) for k = 1..K]` (`1 + 2K` features).
//! - `h₁ = silu(x W_x + φ(t) W_t + b₁)`, `h_{l+1} = silu(h_l W_l + b_l)`, `v = h_L W_out + b_out`.
//! - The Jacobian is carried forward in tangent form: with `s_l = silu'(a_l)`, a tangent `ẋ`
//!   becomes `ȧ₁ = ẋ W_x`, `ḣ_l = s_l ⊙ ȧ_l`, `ȧ_{l+1} = ḣ_l W_l`, `v̇ = ḣ_L W_out`.
//!   **Exact trace**: the `D` unit tangents at once (`[B·D, H]`), `tr = Σ_i v̇⁽ⁱ⁾_i`, `D` times a
//!   forward pass. **Hutchinson** (Grathwohl et al. 2019, FFJORD, arXiv:1810.01367, §3.1): one
//!   Gaussian tangent `ε`, `tr ≈ εᵀ (∂v/∂x) ε`, unbiased, one extra pass whatever `D`.
//!
//! The time embedding's `t` can be one value for the whole batch (the solvers: `φ [1, T]`) or
//! one per row (flow matching: `φ [B, T]`); the first layer broadcasts either.
//!
//! # Shapes
//! `W_x [D, H]`, `W_t [T, H]`, `b₁ [1, H]`, hidden `W_l [H, H]`, `W_out [H, D]`; `x [B, D]`,
//! `v [B, D]`, traces `[B]`.

use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Tensor};

/// How `tr ∂v/∂x` is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceEstimator {
    /// All `D` diagonal entries (exact; `D` tangent passes).
    Exact,
    /// Hutchinson's estimator with one Gaussian probe per row (unbiased; one tangent pass).
    Hutchinson,
}

/// The time embedding `φ(t) = [t, sin(2πkt) for k = 1..K, cos(2πkt) for k = 1..K]` of a
/// column of times `t [n, 1]`, as rows `[n, 1 + 2K]` (computed on the device, so the times of
/// a batch never travel to the host).
pub fn time_features(t: Tensor<2>, frequencies: usize) -> Tensor<2> {
    if frequencies == 0 {
        return t;
    }
    let k: Vec<f32> = (1..=frequencies)
        .map(|k| std::f32::consts::TAU * k as f32)
        .collect();
    let angles = t.clone() * Tensor::<1>::from_floats(k.as_slice(), &t.device()).unsqueeze_dim(0);
    Tensor::cat(vec![t, angles.clone().sin(), angles.cos()], 1)
}

/// [`time_features`] of one time shared by a batch: `[1, 1 + 2K]`.
pub fn time_features_at(t: f32, frequencies: usize, device: &Device) -> Tensor<2> {
    time_features(
        Tensor::<1>::from_floats([t], device).reshape([1, 1]),
        frequencies,
    )
}

/// One hidden layer `h W + b` of the field.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<2>>,
}

/// The velocity MLP.
#[derive(Module, Debug)]
pub struct Velocity {
    pub w_x: Param<Tensor<2>>,
    pub w_t: Param<Tensor<2>>,
    pub b_in: Param<Tensor<2>>,
    pub hidden: Vec<Dense>,
    pub w_out: Param<Tensor<2>>,
    pub b_out: Param<Tensor<2>>,
}

/// Uniform in `±1/√fan_in` (PyTorch's `nn.Linear` default).
fn uniform(rows: usize, cols: usize, fan_in: usize, device: &Device) -> Param<Tensor<2>> {
    let a = 1.0 / (fan_in as f64).sqrt();
    Param::from_tensor(Tensor::random(
        [rows, cols],
        Distribution::Uniform(-a, a),
        device,
    ))
}

/// `(silu(a), silu'(a))` with `silu(a) = a σ(a)`, `silu'(a) = σ(a)(1 + a(1 − σ(a)))`.
fn silu_and_slope(a: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let s = sigmoid(a.clone());
    let h = a.clone() * s.clone();
    let slope = s.clone() * (a * (s.neg().add_scalar(1.0))).add_scalar(1.0);
    (h, slope)
}

impl Velocity {
    /// A field of `hidden_layers + 1` hidden layers of width `width` on `dim` coordinates and
    /// `features` time features; the output layer starts at zero (the identity map).
    pub fn new(
        dim: usize,
        width: usize,
        hidden_layers: usize,
        features: usize,
        device: &Device,
    ) -> Self {
        let fan_in = dim + features;
        Self {
            w_x: uniform(dim, width, fan_in, device),
            w_t: uniform(features, width, fan_in, device),
            b_in: uniform(1, width, fan_in, device),
            hidden: (0..hidden_layers)
                .map(|_| Dense {
                    weight: uniform(width, width, width, device),
                    bias: uniform(1, width, width, device),
                })
                .collect(),
            w_out: Param::from_tensor(Tensor::zeros([width, dim], device)),
            b_out: Param::from_tensor(Tensor::zeros([1, dim], device)),
        }
    }

    /// `v(x, t) [B, D]` for time features `phi` (`[1, T]` or `[B, T]`).
    pub fn forward(&self, x: Tensor<2>, phi: Tensor<2>) -> Tensor<2> {
        let mut h = silu_and_slope(self.first(x, phi)).0;
        for layer in &self.hidden {
            h = silu_and_slope(h.matmul(layer.weight.val()) + layer.bias.val()).0;
        }
        h.matmul(self.w_out.val()) + self.b_out.val()
    }

    fn first(&self, x: Tensor<2>, phi: Tensor<2>) -> Tensor<2> {
        x.matmul(self.w_x.val()) + phi.matmul(self.w_t.val()) + self.b_in.val()
    }

    /// `(v [B, D], tr ∂v/∂x [B])`: exact, or Hutchinson's estimate with one standard-normal
    /// probe per row.
    pub fn forward_with_trace(
        &self,
        x: Tensor<2>,
        phi: Tensor<2>,
        estimator: TraceEstimator,
    ) -> (Tensor<2>, Tensor<1>) {
        match estimator {
            TraceEstimator::Exact => self.exact_trace(x, phi),
            TraceEstimator::Hutchinson => {
                let probe = Tensor::random(x.dims(), Distribution::Normal(0.0, 1.0), &x.device());
                self.probed_trace(x, phi, probe)
            }
        }
    }

    /// All `D` unit tangents carried at once as `[B·D, H]`.
    fn exact_trace(&self, x: Tensor<2>, phi: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [b, d] = x.dims();
        let (mut h, slope) = silu_and_slope(self.first(x, phi));
        let width = h.dims()[1];
        // Row (n, i) of the tangent: ∂h/∂x_i for sample n.
        let mut tangent = (slope.unsqueeze_dim::<3>(1) * self.w_x.val().unsqueeze_dim::<3>(0))
            .reshape([b * d, width]);
        for layer in &self.hidden {
            let (next, slope) = silu_and_slope(h.matmul(layer.weight.val()) + layer.bias.val());
            h = next;
            tangent = (tangent.matmul(layer.weight.val()).reshape([b, d, width])
                * slope.unsqueeze_dim::<3>(1))
            .reshape([b * d, width]);
        }
        let v = h.matmul(self.w_out.val()) + self.b_out.val();
        // jac[n, i, j] = ∂v_j/∂x_i; the trace keeps i = j.
        let jac = tangent.matmul(self.w_out.val()).reshape([b, d, d]);
        let eye = Tensor::<2>::eye(d, &jac.device()).unsqueeze_dim::<3>(0);
        let trace = (jac * eye).sum_dim(2).sum_dim(1).reshape([b]);
        (v, trace)
    }

    /// `εᵀ (∂v/∂x) ε` for one probe `ε [B, D]` per row.
    pub fn probed_trace(
        &self,
        x: Tensor<2>,
        phi: Tensor<2>,
        probe: Tensor<2>,
    ) -> (Tensor<2>, Tensor<1>) {
        let [b, _] = x.dims();
        let (mut h, slope) = silu_and_slope(self.first(x, phi));
        let mut tangent = probe.clone().matmul(self.w_x.val()) * slope;
        for layer in &self.hidden {
            let (next, slope) = silu_and_slope(h.matmul(layer.weight.val()) + layer.bias.val());
            h = next;
            tangent = tangent.matmul(layer.weight.val()) * slope;
        }
        let v = h.matmul(self.w_out.val()) + self.b_out.val();
        let jvp = tangent.matmul(self.w_out.val());
        (v, (jvp * probe).sum_dim(1).reshape([b]))
    }

    /// Parameters: `(D + T + 1)·H + L·(H + 1)·H + (H + 1)·D`.
    pub fn parameter_count(
        dim: usize,
        width: usize,
        hidden_layers: usize,
        features: usize,
    ) -> u128 {
        let (d, h, l, t) = (
            dim as u128,
            width as u128,
            hidden_layers as u128,
            features as u128,
        );
        (d + t + 1) * h + l * (h + 1) * h + (h + 1) * d
    }
}
