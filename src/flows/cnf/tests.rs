//! The continuous flow against independent computations: the solvers on an ODE with a closed
//! form, the exact trace against the autodiff Jacobian, Hutchinson's mean against the exact
//! trace, the integrated log-det against a finite-difference Jacobian of the integrated map,
//! the inverse, and the density's mass on a grid.

use burn::tensor::{Tensor, TensorData};

use super::solver::{Field, Solver, integrate};
use super::velocity::time_features_at;
use super::*;
use crate::flows::Flow;
use crate::flows::testing::{gaussian_batch, host, jacobians, perturb, seeded_autodiff_device};

/// `dx/dt = −(1 + t) x`: `x(t₁) = x(t₀) exp(−[(t + t²/2)]_{t₀}^{t₁})`, `tr = −D (1 + t)`.
struct Decay;

impl Field for Decay {
    fn eval(&self, x: Tensor<2>, t: f32, with_trace: bool) -> (Tensor<2>, Option<Tensor<1>>) {
        let [b, d] = x.dims();
        let v = x.clone().mul_scalar(-(1.0 + t));
        let tr = with_trace.then(|| Tensor::<1>::full([b], -(d as f32) * (1.0 + t), &x.device()));
        (v, tr)
    }
}

#[test]
fn both_solvers_match_the_closed_form_in_both_directions() {
    let device = crate::device::cpu();
    let x = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0], [2, 2]),
        &device,
    );
    let solvers = [
        Solver::Rk4 { steps: 20 },
        Solver::Dopri5 {
            rtol: 1e-6,
            atol: 1e-7,
            max_steps: 1000,
        },
    ];
    for solver in solvers {
        for (t0, t1) in [(0.0f32, 1.0f32), (1.0, 0.0)] {
            let integral = (t1 + t1 * t1 / 2.0) - (t0 + t0 * t0 / 2.0);
            let (y, l) = integrate(solver, &Decay, x.clone(), t0, t1, true);
            let want: Vec<f32> = host(x.clone())
                .iter()
                .map(|v| v * (-integral).exp())
                .collect();
            for (a, b) in host(y).iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{solver:?} {t0}→{t1}: {a} vs {b}"
                );
            }
            for v in host(l) {
                assert!((v + 2.0 * integral).abs() < 1e-4, "{solver:?}: log-det {v}");
            }
        }
    }
}

fn perturbed(dim: usize, solver: Solver, device: &burn::tensor::Device) -> Cnf {
    let config = CnfConfig::new(dim).with_hidden(16).with_solver(solver);
    perturb(config.init(device), 0.3)
}

#[test]
fn the_exact_trace_is_the_autodiff_jacobians_trace() {
    let (_lock, device) = seeded_autodiff_device(3);
    for d in [1, 2, 5] {
        let cnf = perturbed(d, Solver::Rk4 { steps: 4 }, &device);
        let x = gaussian_batch(6, d, 1.0, 4, &device);
        let phi = time_features_at(0.37, cnf.config.frequencies, &device);
        let (v, tr) = cnf
            .field
            .forward_with_trace(x.clone(), phi.clone(), TraceEstimator::Exact);
        let plain = cnf.field.forward(x.clone(), phi.clone());
        let diff = host(v)
            .iter()
            .zip(host(plain))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-6, "the traced pass changed v by {diff}");
        let jac = jacobians(
            &|t| cnf.field.forward(t, phi.clone()),
            &host(x),
            6,
            d,
            &device,
        );
        for (m, t) in jac.iter().zip(host(tr)) {
            let want: f64 = (0..d).map(|i| m[i][i]).sum();
            assert!(
                (t as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                "dim {d}: {t} vs {want}"
            );
        }
    }
}

#[test]
fn hutchinson_averages_to_the_exact_trace() {
    let (_lock, device) = seeded_autodiff_device(5);
    let d = 4;
    let cnf = perturbed(d, Solver::Rk4 { steps: 4 }, &device);
    let x = gaussian_batch(1, d, 1.0, 8, &device);
    let phi = time_features_at(0.6, cnf.config.frequencies, &device);
    let exact = host(
        cnf.field
            .forward_with_trace(x.clone(), phi.clone(), TraceEstimator::Exact)
            .1,
    )[0];
    // 4000 probes of the same row at once.
    let many = x.repeat_dim(0, 4000);
    let estimates = host(
        cnf.field
            .forward_with_trace(many, phi, TraceEstimator::Hutchinson)
            .1,
    );
    let n = estimates.len() as f64;
    let mean = estimates.iter().map(|&v| v as f64).sum::<f64>() / n;
    let sd = (estimates
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    assert!(sd > 1e-3, "the probes did not vary");
    assert!(
        (mean - exact as f64).abs() < 4.0 * sd / n.sqrt() + 1e-4,
        "Hutchinson mean {mean} (sd {sd}) vs exact {exact}"
    );
}

/// Central differences of the integrated map (f64 steps on an f32 map: `h = 1e-2`), then
/// `log|det|` on the host.
#[test]
fn the_integrated_logdet_matches_a_finite_difference_jacobian() {
    let (_lock, device) = seeded_autodiff_device(9);
    let d = 2;
    let cnf = perturbed(d, Solver::Rk4 { steps: 32 }, &device);
    let x = host(gaussian_batch(5, d, 1.2, 10, &device));
    let map = |rows: &[f32]| -> Vec<f32> {
        let t =
            Tensor::<2>::from_data(TensorData::new(rows.to_vec(), [rows.len() / d, d]), &device);
        host(cnf.forward(t).0)
    };
    let (_, ld) = cnf.forward(Tensor::<2>::from_data(
        TensorData::new(x.clone(), [5, d]),
        &device,
    ));
    let h = 1e-2f32;
    for (row, &got) in x.chunks(d).zip(&host(ld)) {
        let mut jac = vec![0.0f64; d * d];
        for j in 0..d {
            let (mut plus, mut minus) = (row.to_vec(), row.to_vec());
            plus[j] += h;
            minus[j] -= h;
            let (fp, fm) = (map(&plus), map(&minus));
            for i in 0..d {
                jac[i * d + j] = ((fp[i] - fm[i]) / (2.0 * h)) as f64;
            }
        }
        let want = crate::flows::dense::host_logabsdet(&jac, d).expect("invertible");
        assert!(
            (got as f64 - want).abs() < 2e-3,
            "log-det {got} vs finite differences {want}"
        );
    }
    // And the map moved: an identity field would pass trivially.
    let moved = map(&x)
        .iter()
        .zip(&x)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        moved > 0.05,
        "the perturbed field barely moves the points ({moved})"
    );
}

#[test]
fn noise_to_data_and_back_returns_the_input_with_either_solver() {
    let (_lock, device) = seeded_autodiff_device(11);
    for solver in [
        Solver::Rk4 { steps: 16 },
        Solver::Dopri5 {
            rtol: 1e-5,
            atol: 1e-6,
            max_steps: 500,
        },
    ] {
        let cnf = perturbed(3, solver, &device);
        let z = gaussian_batch(32, 3, 1.0, 12, &device);
        let (x, ld_inv) = cnf.inverse(z.clone());
        let (back, ld_fwd) = cnf.forward(x);
        let err = host(back)
            .iter()
            .zip(host(z))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-3, "{solver:?}: reconstruction error {err}");
        let sum = host(ld_inv + ld_fwd)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(sum < 1e-3, "{solver:?}: log-dets do not cancel ({sum})");
    }
}

/// `exp(log p)` of `N(0, I)` pushed through a perturbed field sums to one over a grid that holds
/// the mass.
#[test]
fn the_density_integrates_to_one_on_a_grid() {
    let (_lock, device) = seeded_autodiff_device(13);
    let config = crate::flows::FlowConfig {
        layers: vec![crate::flows::LayerConfig::Cnf(
            CnfConfig::new(2)
                .with_hidden(16)
                .with_solver(Solver::Rk4 { steps: 24 }),
        )],
        base: crate::flows::BaseConfig::StandardNormal { dim: 2 },
        embedding: None,
        head: None,
    };
    let flow: Flow = perturb(config.init(&device), 0.3);
    // The map without its trace is the same map.
    let x = gaussian_batch(8, 2, 1.0, 14, &device);
    let with = host(flow.transform_to_noise(x.clone()).0);
    let without = host(flow.transform_points(x));
    assert_eq!(with, without, "transform_points is another map");
    let z = gaussian_batch(8, 2, 1.0, 15, &device);
    assert_eq!(
        host(flow.inverse(z.clone()).0),
        host(flow.inverse_points(z))
    );
    // Cell centres of a 160 × 160 grid on [−7, 7]².
    let (res, half) = (160usize, 7.0f32);
    let cell = 2.0 * half / res as f32;
    let points: Vec<f32> = (0..res * res)
        .flat_map(|k| {
            let (i, j) = (k / res, k % res);
            [
                -half + (j as f32 + 0.5) * cell,
                -half + (i as f32 + 0.5) * cell,
            ]
        })
        .collect();
    let mut grid = Vec::with_capacity(res * res);
    for chunk in points.chunks(2 * 4096) {
        let x = Tensor::<2>::from_data(
            TensorData::new(chunk.to_vec(), [chunk.len() / 2, 2]),
            &device,
        );
        grid.extend(host(flow.log_prob(x)));
    }
    let mass: f64 = grid.iter().map(|&v| (v as f64).exp()).sum::<f64>() * (cell * cell) as f64;
    assert!((mass - 1.0).abs() < 0.01, "mass on the grid {mass}");
    // Not the base: the density moved away from N(0, I).
    let base_peak = -(2.0 * std::f32::consts::PI).ln();
    let peak = grid.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    assert!(
        (peak - base_peak).abs() > 0.05,
        "the flow left the base unchanged (peak {peak})"
    );
}
