//! Posteriors one can trust at any observation, on the shipped amortised posteriors
//! (`www/models/*-posterior.flow`): `sample --context` says when the observation lies outside
//! the prior predictive, `--reweight` corrects the draws with the known likelihood (checked
//! against the exact linear-Gaussian posterior, computed here independently of the crate),
//! and `calibrate` finds the shipped posteriors calibrated (simulation-based calibration).

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowplay"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("flowplay runs")
}

fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{stderr}");
    (stdout, stderr)
}

/// The exact linear-Gaussian posterior `N(μ, Σ)`, `Σ = (AᵀA/σ² + I)⁻¹`, `μ = Σ Aᵀy/σ²`,
/// written out for the 2×2 case.
fn exact_posterior(y: [f64; 2]) -> ([f64; 2], [[f64; 2]; 2]) {
    let (a, s2) = ([[1.0, 1.0], [1.0, 1.05]], 0.01);
    let p11 = (a[0][0] * a[0][0] + a[1][0] * a[1][0]) / s2 + 1.0;
    let p12 = (a[0][0] * a[0][1] + a[1][0] * a[1][1]) / s2;
    let p22 = (a[0][1] * a[0][1] + a[1][1] * a[1][1]) / s2 + 1.0;
    let det = p11 * p22 - p12 * p12;
    let cov = [[p22 / det, -p12 / det], [-p12 / det, p11 / det]];
    let b = [
        (a[0][0] * y[0] + a[1][0] * y[1]) / s2,
        (a[0][1] * y[0] + a[1][1] * y[1]) / s2,
    ];
    let mean = [
        cov[0][0] * b[0] + cov[0][1] * b[1],
        cov[1][0] * b[0] + cov[1][1] * b[1],
    ];
    (mean, cov)
}

/// KL(N(m0, c0) ‖ N(m1, c1)) in 2D.
fn kl(m0: [f64; 2], c0: [[f64; 2]; 2], m1: [f64; 2], c1: [[f64; 2]; 2]) -> f64 {
    let det0 = c0[0][0] * c0[1][1] - c0[0][1] * c0[1][0];
    let det1 = c1[0][0] * c1[1][1] - c1[0][1] * c1[1][0];
    let inv = [
        [c1[1][1] / det1, -c1[0][1] / det1],
        [-c1[1][0] / det1, c1[0][0] / det1],
    ];
    let trace =
        inv[0][0] * c0[0][0] + inv[0][1] * c0[1][0] + inv[1][0] * c0[0][1] + inv[1][1] * c0[1][1];
    let d = [m1[0] - m0[0], m1[1] - m0[1]];
    let quad =
        d[0] * (inv[0][0] * d[0] + inv[0][1] * d[1]) + d[1] * (inv[1][0] * d[0] + inv[1][1] * d[1]);
    0.5 * (trace + quad - 2.0 + (det1 / det0).ln())
}

/// The mean and covariance of `θ1,θ2,log_q` rows.
fn moments(csv: &str) -> ([f64; 2], [[f64; 2]; 2]) {
    let rows: Vec<[f64; 2]> = csv
        .lines()
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|s| s.parse().unwrap()).collect();
            [v[0], v[1]]
        })
        .collect();
    let n = rows.len() as f64;
    let m = [
        rows.iter().map(|r| r[0]).sum::<f64>() / n,
        rows.iter().map(|r| r[1]).sum::<f64>() / n,
    ];
    let mut c = [[0.0; 2]; 2];
    for r in &rows {
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] += (r[i] - m[i]) * (r[j] - m[j]) / (n - 1.0);
            }
        }
    }
    (m, c)
}

/// `sample` of the shipped linear-Gaussian posterior at `y`: KL(exact ‖ N(draws' moments))
/// and what it said on stderr.
fn linear_gaussian_draws(y: [f64; 2], extra: &[&str]) -> (f64, String) {
    let context = format!("{},{}", y[0], y[1]);
    let mut args = vec![
        "sample",
        "--model",
        "www/models/linear-gaussian-posterior.flow",
        "--context",
        &context,
        "-n",
        "4000",
        "--seed",
        "3",
    ];
    args.extend(extra);
    let (stdout, stderr) = ok(&run(&args));
    let (m, c) = moments(&stdout);
    let (em, ec) = exact_posterior(y);
    (kl(em, ec, m, c), stderr)
}

#[test]
fn a_far_observation_is_flagged_and_the_reweighted_posterior_is_exact() {
    // (1.5, −0.5) is 13 predictive standard deviations across the thin ellipse the training
    // observations fill: the flow's draws drift, the CLI says so.
    let far = [1.5, -0.5];
    let (kl_flow, said) = linear_gaussian_draws(far, &[]);
    assert!(
        said.contains("outside what the posterior was trained on"),
        "{said}"
    );
    assert!(said.contains("--reweight"), "{said}");
    assert!(kl_flow > 0.2, "the shipped flow drifts here: KL {kl_flow}");
    let (kl_fixed, said) = linear_gaussian_draws(far, &["--reweight"]);
    assert!(kl_fixed <= 0.05, "corrected KL {kl_fixed}; {said}");
    let ess: f64 = said
        .split("effective sample size ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no ESS in: {said}"));
    assert!(ess >= 100.0, "{said}");
    // A typical observation: no warning, and the flow is already right.
    let (kl_typical, said) = linear_gaussian_draws([1.0, 1.1], &[]);
    assert!(!said.contains("outside"), "{said}");
    assert!(kl_typical < 0.01, "{kl_typical}");
}

#[test]
fn reweighting_is_refused_where_there_is_no_density_or_likelihood() {
    // A 2D density model has no problem, so no likelihood (INN posteriors, which have no
    // density, are refused in tests/inverse.rs, where one is trained).
    let out = run(&[
        "sample",
        "--model",
        "www/models/moons-realnvp.flow",
        "-n",
        "3",
        "--reweight",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a posterior of a known problem"),
        "{err}"
    );
}

#[test]
fn the_shipped_posteriors_are_calibrated() {
    // Simulation-based calibration over 1000 pairs × 99 draws. For a calibrated posterior each
    // coordinate's KS p-value is uniform on [0, 1]; the bound 0.0025 makes the four tested
    // coordinates fail together with probability ≤ 1 % (Bonferroni), while a posterior 20 %
    // too narrow or too wide, or biased by 0.15 standard deviations, gets p < 0.001 at this
    // size (the unit test in inverse::calibration).
    for problem in ["linear-gaussian", "ring"] {
        let model = format!("www/models/{problem}-posterior.flow");
        let (stdout, stderr) = ok(&run(&[
            "calibrate",
            "--model",
            &model,
            "--observations",
            "0",
        ]));
        let j: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        let c = &j["calibration"];
        assert_eq!(c["pairs"], 1000, "{j}");
        for p in c["ks_p_value"].as_array().unwrap() {
            assert!(p.as_f64().unwrap() > 0.0025, "{problem}: {c}; {stderr}");
        }
        for (level, want) in [("0.5", 0.5), ("0.9", 0.9), ("0.95", 0.95)] {
            let got = j["coverage"][level].as_f64().unwrap();
            // 2000 (pair, coordinate) hits: a binomial's sd at 0.5 is 0.011.
            assert!(
                (got - want).abs() < 0.035,
                "{problem}: coverage {level} = {got}"
            );
        }
    }
}
