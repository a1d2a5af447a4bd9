//! Continuous flows trained end to end: flow matching and maximum likelihood through the solver
//! (FFJORD) fit a correlated Gaussian to within a few hundredths of a nat of its entropy (a
//! closed form written here, independently of the crate), the fast preview solver stays close
//! to the configured one, and `fit2d --flow cnf` trains on moons, saves a file the CLI scores,
//! and refuses objectives that cannot apply.

mod common;

use std::process::Command;

use common::run_with_stdin;

use flowplay::flows::{FlowKind, FlowSpec};
use flowplay::rng::Rng;
use flowplay::train::flow_matching::Pairing;
use flowplay::train::{Objective, TrainSettings, Trainer};

/// The page's preview solver (`web::playground::session::PREVIEW_CNF_STEPS`, not compiled
/// natively).
const PREVIEW_STEPS: usize = 6;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `x = A ε + μ`, `A = [[1.5, 0], [0.9, 0.5]]`, `μ = (1, −2)`: `Σ = A Aᵀ`,
/// `H = log(2πe) + log|det A|`; and the exact log-density.
fn gaussian_log_density(x: &[f32]) -> f64 {
    // ε = A⁻¹ (x − μ): ε₁ = (x₁ − 1)/1.5, ε₂ = (x₂ + 2 − 0.9 ε₁)/0.5.
    let e1 = (x[0] as f64 - 1.0) / 1.5;
    let e2 = (x[1] as f64 + 2.0 - 0.9 * e1) / 0.5;
    -0.5 * (e1 * e1 + e2 * e2) - std::f64::consts::TAU.ln() - (1.5f64 * 0.5).ln()
}

fn correlated_gaussian(n: usize, seed: u64) -> (Vec<f32>, f64) {
    let mut rng = Rng::new(seed);
    let mut data = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let (e1, e2) = (rng.normal(), rng.normal());
        data.push((1.5 * e1 + 1.0) as f32);
        data.push((0.9 * e1 + 0.5 * e2 - 2.0) as f32);
    }
    let log_det_a = (1.5f64 * 0.5).ln();
    let entropy = (std::f64::consts::TAU * std::f64::consts::E).ln() + log_det_a;
    (data, entropy)
}

fn fit(objective: Objective, spec: &FlowSpec, steps: usize, batch: usize, lr: f64) -> Trainer {
    let settings = TrainSettings {
        steps,
        batch,
        lr,
        seed: 0,
        eval_every: steps,
        ..TrainSettings::default()
    };
    let mut trainer = Trainer::new(
        &spec.config(),
        objective,
        settings,
        &flowplay::device::cpu(),
    )
    .expect("a valid setup");
    trainer.run_blocking(|_, _| {}).expect("training runs");
    trainer
}

#[test]
fn flow_matching_and_ffjord_fit_a_correlated_gaussian() {
    let _lock = serial();
    let (data, entropy) = correlated_gaussian(5000, 3);
    // 8 RK4 steps (FFJORD trains through every one of them; a Gaussian's field is smooth).
    let mut spec = FlowSpec::new(FlowKind::Cnf, 2)
        .with_hidden(64)
        .with_layers(2);
    spec.solver_steps = 8;
    let cases = [
        (
            "flow matching",
            Objective::flow_matching(2, data.clone(), 0.2, Pairing::Independent),
            1000,
        ),
        (
            "flow matching, minibatch OT",
            Objective::flow_matching(2, data.clone(), 0.2, Pairing::MinibatchOt),
            1000,
        ),
        ("FFJORD", Objective::forward_kl(2, data.clone(), 0.2), 200),
    ];
    for (name, objective, steps) in cases {
        let trainer = fit(objective, &spec, steps, 256, 3e-3);
        let nll = trainer
            .history
            .last()
            .and_then(|p| p.val_nll)
            .expect("a validation NLL");
        let initial = trainer.history.first_val_nll().expect("the start");
        eprintln!("{name}: NLL {initial:.4} → {nll:.4}, entropy {entropy:.4}");
        // ActNorm alone already standardises the data; the CNF must learn the correlation
        // (worth 0.5·log(1/(1 − ρ²)) ≈ 0.4 nats here).
        assert!(
            initial - entropy > 0.3,
            "{name}: the untrained flow is already good ({initial})"
        );
        // The true density's NLL on the same held-out rows (the last fifth): what a perfect
        // model scores there, free of the sample's own noise (±0.03 nats around H).
        let held_out = &data[2 * 4000..];
        let oracle = -held_out.chunks(2).map(gaussian_log_density).sum::<f64>() / 1000.0;
        eprintln!(
            "{name}: {:.4} nats above the true density's NLL {oracle:.4}",
            nll - oracle
        );
        assert!(
            (oracle - entropy).abs() < 0.1,
            "the closed forms disagree: {oracle} vs {entropy}"
        );
        assert!(
            nll - oracle < 0.02 && nll - oracle > -0.02,
            "{name}: NLL {nll} vs the true density's {oracle}"
        );
    }
}

#[test]
fn the_preview_solver_stays_close_to_the_configured_one() {
    let _lock = serial();
    let (data, _) = correlated_gaussian(4000, 5);
    let spec = FlowSpec::new(FlowKind::Cnf, 2)
        .with_hidden(32)
        .with_layers(1);
    let objective = Objective::flow_matching(2, data.clone(), 0.2, Pairing::Independent);
    let model = fit(objective, &spec, 200, 256, 3e-3).inference_model();
    let device = flowplay::device::cpu();
    let full = flowplay::evaluate::log_prob_rows_blocking(&model, &data[..2000], 2, &device)
        .expect("log-probs");
    let preview = model.clone().with_cnf_steps(PREVIEW_STEPS);
    let quick = flowplay::evaluate::log_prob_rows_blocking(&preview, &data[..2000], 2, &device)
        .expect("log-probs");
    let worst = full
        .iter()
        .zip(&quick)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // Measured: 4 steps differ by 0.024 on average but 0.22 at worst, 6 by 0.008 and 0.038,
    // 8 by 0.003 and 0.010.
    assert!(
        worst < 0.06,
        "{PREVIEW_STEPS} RK4 steps differ from 16 by {worst} nats"
    );
    assert!(
        full.iter().zip(&quick).any(|(a, b)| a != b),
        "the preview is the same solver"
    );
}

/// `flowplay ARGS`, which must succeed, and the JSON summary on its last stdout line.
fn summary_of(args: &[&str]) -> serde_json::Value {
    let out = flowplay(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("a line")).expect("a JSON summary")
}

fn flowplay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flowplay"))
        .args(args)
        .output()
        .expect("the CLI runs")
}

#[test]
fn fit2d_trains_a_cnf_on_moons_and_the_cli_scores_it() {
    let dir = std::env::temp_dir().join(format!("flowplay-cnf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("moons-cnf.flow");
    let summary = summary_of(&[
        "fit2d",
        "--target",
        "moons",
        "--flow",
        "cnf",
        "--objective",
        "flow-matching",
        "--hidden",
        "64",
        "--steps",
        "600",
        "--lr",
        "3e-3",
        "--data",
        "8000",
        "--eval-every",
        "300",
        "--solver-steps",
        "8",
        "--threads",
        "2",
        "--quiet",
        "--out",
        model.to_str().unwrap(),
    ]);
    let nll = summary["val_nll"].as_f64().unwrap();
    let entropy = summary["target_entropy"]
        .as_f64()
        .expect("moons' entropy is known");
    let initial = summary["initial_val_nll"].as_f64().unwrap();
    assert!(
        initial - nll > 0.6,
        "training barely moved: {initial} → {nll}"
    );
    assert!(nll - entropy < 0.3, "NLL {nll} vs entropy {entropy}");
    assert!(
        (summary["grid_mass"].as_f64().unwrap() - 1.0).abs() < 0.02,
        "{summary}"
    );
    // The saved file is a flow like any other: the CLI scores points with it.
    let model_path = model.to_str().unwrap();
    let scored = run_with_stdin(&["log-prob", "--model", model_path], "1,0.2\n9,9\n");
    let values: Vec<f64> = String::from_utf8_lossy(&scored.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert!(
        values.len() == 2 && values[0] > values[1] + 10.0,
        "{values:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn flow_matching_is_refused_where_it_cannot_apply() {
    for (args, needle) in [
        (
            ["--target", "moons", "--flow", "realnvp"],
            "last layer must be a cnf",
        ),
        (["--target", "u1", "--flow", "cnf"], "u1 is an energy"),
    ] {
        let mut all = vec!["fit2d", "--objective", "flow-matching", "--steps", "2"];
        all.extend(args);
        let out = flowplay(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{all:?}: {err}"
        );
    }
}

/// `fit --csv` trains a CNF by flow matching on a table of any width: 3 columns of a
/// correlated Gaussian, whose held-out NLL must fall well below the standardised start.
#[test]
fn fit_trains_a_cnf_by_flow_matching_on_a_csv() {
    let dir = std::env::temp_dir().join(format!("flowplay-cnf-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(8);
    let mut text = String::from("u,v,w\n");
    for _ in 0..3000 {
        let (a, b, c) = (rng.normal(), rng.normal(), rng.normal());
        text += &format!(
            "{},{},{}\n",
            a,
            0.9 * a + 0.3 * b,
            0.5 * a - 0.6 * b + 0.2 * c
        );
    }
    let csv = dir.join("rows.csv");
    std::fs::write(&csv, text).unwrap();
    let summary = summary_of(&[
        "fit",
        "--csv",
        csv.to_str().unwrap(),
        "--flow",
        "cnf",
        "--objective",
        "flow-matching",
        "--hidden",
        "64",
        "--steps",
        "1200",
        "--lr",
        "3e-3",
        "--eval-every",
        "300",
        "--out",
        dir.join("rows.flow").to_str().unwrap(),
    ]);
    assert_eq!(summary["objective"], "flow-matching", "{summary}");
    assert_eq!(summary["dim"], 3);
    // Closed form: x = A ε with det A = 1 · 0.3 · 0.2, so H = 1.5 log(2πe) + log 0.06.
    let entropy = 1.5 * (std::f64::consts::TAU * std::f64::consts::E).ln() + 0.06f64.ln();
    let nll = summary["val_nll"].as_f64().expect("a validation NLL");
    // 400 steps left it 0.16 above; 1 200 steps bring it within 0.1 (600 held-out rows: ±0.05 of noise).
    assert!(
        nll - entropy < 0.1,
        "NLL {nll} vs entropy {entropy}: {summary}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
