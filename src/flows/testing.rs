//! Shared property checks for every layer (zuko/nflows style): inverse(forward(x)) ≈ x, the
//! forward log-det against `log|det|` of the autodiff Jacobian, forward + inverse log-dets ≈ 0,
//! and triangular Jacobians for autoregressive layers.

use burn::tensor::{Device, Tensor, TensorData};

use super::Bijection;
use super::dense::host_logabsdet_and_inverse;
pub use crate::testing::{gaussian_batch, host, perturb, seeded_autodiff_device};

/// The Jacobian `∂f(x)_i/∂x_j` of each row of `x [n, d]`, by autodiff, as `[n][i][j]`.
/// `device` must be an autodiff device.
pub fn jacobians(
    f: &dyn Fn(Tensor<2>) -> Tensor<2>,
    x: &[f32],
    n: usize,
    d: usize,
    device: &Device,
) -> Vec<Vec<Vec<f64>>> {
    let mut jac = vec![vec![vec![0.0; d]; d]; n];
    for i in 0..d {
        let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, d]), device).require_grad();
        let y = f(xt.clone());
        let grads = y.narrow(1, i, 1).sum().backward();
        let g = xt
            .grad(&grads)
            .map(host)
            .unwrap_or_else(|| vec![0.0; n * d]);
        for (b, row) in jac.iter_mut().enumerate() {
            for j in 0..d {
                row[i][j] = g[b * d + j] as f64;
            }
        }
    }
    jac
}

/// `log|det J|` of each Jacobian.
pub fn logabsdets(jac: &[Vec<Vec<f64>>]) -> Vec<f64> {
    jac.iter()
        .map(|m| {
            let d = m.len();
            let flat: Vec<f64> = m.iter().flatten().copied().collect();
            host_logabsdet_and_inverse(&flat, d).map_or(f64::NEG_INFINITY, |(ld, _)| ld)
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// What [`check_bijection`] measured.
#[derive(Debug)]
pub struct BijectionReport {
    pub reconstruction_error: f32,
    pub logdet_sum_error: f32,
    pub jacobian_logdet_error: f64,
    pub inverse_jacobian_logdet_error: f64,
}

/// Runs the property checks on `layer` (built on the autodiff `device`) at `x [n, d]` and
/// asserts them with tolerance `tol`. `triangular` additionally asserts `∂z_i/∂x_j = 0` for `j > i`.
pub fn check_bijection<L: Bijection>(
    name: &str,
    layer: &L,
    x: Tensor<2>,
    tol: f32,
    triangular: bool,
) -> BijectionReport {
    let [n, d] = x.dims();
    let device = x.device();
    let xs = host(x.clone());
    let (z, ld_fwd) = layer.forward(x.clone());
    let (x_back, ld_inv) = layer.inverse(z.clone());
    let zs = host(z.clone());
    let ld_f = host(ld_fwd);
    let ld_i = host(ld_inv);
    assert!(
        zs.iter().all(|v| v.is_finite()),
        "{name}: non-finite output"
    );
    // A layer left at the identity would pass every check below trivially.
    assert!(
        max_abs_diff(&zs, &xs) > 1e-2,
        "{name}: the layer under test is the identity"
    );
    let reconstruction_error = max_abs_diff(&host(x_back), &xs);
    let logdet_sum_error = ld_f
        .iter()
        .zip(&ld_i)
        .map(|(a, b)| (a + b).abs())
        .fold(0.0, f32::max);

    let jac = jacobians(&|t| layer.forward(t).0, &xs, n, d, &device);
    let ld_jac = logabsdets(&jac);
    let jacobian_logdet_error = ld_f
        .iter()
        .zip(&ld_jac)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max);
    let jac_inv = jacobians(&|t| layer.inverse(t).0, &zs, n, d, &device);
    let ld_jac_inv = logabsdets(&jac_inv);
    let inverse_jacobian_logdet_error = ld_i
        .iter()
        .zip(&ld_jac_inv)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max);

    let scale = 1.0 + xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        reconstruction_error < tol * scale,
        "{name}: ‖f⁻¹(f(x)) − x‖∞ = {reconstruction_error}"
    );
    assert!(
        logdet_sum_error < tol * 10.0,
        "{name}: |ld_fwd + ld_inv| = {logdet_sum_error}"
    );
    assert!(
        jacobian_logdet_error < (tol * 10.0) as f64,
        "{name}: forward log-det differs from the autodiff Jacobian by {jacobian_logdet_error}"
    );
    assert!(
        inverse_jacobian_logdet_error < (tol * 10.0) as f64,
        "{name}: inverse log-det differs from the autodiff Jacobian by {inverse_jacobian_logdet_error}"
    );
    if triangular {
        for (b, m) in jac.iter().enumerate() {
            for (i, row) in m.iter().enumerate() {
                for (j, v) in row.iter().enumerate().skip(i + 1) {
                    assert!(
                        *v == 0.0,
                        "{name}: sample {b}: ∂z_{i}/∂x_{j} = {v} breaks the autoregressive order"
                    );
                }
            }
        }
    }
    BijectionReport {
        reconstruction_error,
        logdet_sum_error,
        jacobian_logdet_error,
        inverse_jacobian_logdet_error,
    }
}

/// A small 2D RealNVP architecture (`layers` couplings of width `hidden`) for tests of the
/// training machinery.
pub fn tiny_realnvp(layers: usize, hidden: usize) -> super::FlowConfig {
    super::FlowSpec::new(super::FlowKind::Realnvp, 2)
        .with_layers(layers)
        .with_hidden(hidden)
        .config()
}
