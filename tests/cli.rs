//! The `flowplay` binary end to end: fit2d's JSON contract, log-prob/sample/plot on the saved
//! file, and clear errors for bad input.

mod common;

use common::run_with_stdin;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowplay"))
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flowplay-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn last_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("stdout has a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

fn fit(dir: &Path, target: &str, flow: &str, steps: &str) -> (PathBuf, serde_json::Value) {
    let model = dir.join(format!("{target}-{flow}.flow"));
    let out = bin()
        .args([
            "fit2d", "--target", target, "--flow", flow, "--layers", "4", "--hidden", "32",
        ])
        .args([
            "--steps",
            steps,
            "--batch",
            "256",
            "--eval-every",
            "50",
            "--data",
            "4000",
        ])
        .args(["--out", model.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fit2d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("step"),
        "no progress shown"
    );
    (model, last_json(&out))
}

#[test]
fn fit2d_log_prob_sample_and_plot_work_together() {
    let dir = tmp_dir("roundtrip");
    let (model, summary) = fit(&dir, "moons", "realnvp", "150");
    for key in [
        "target",
        "flow",
        "layers",
        "steps",
        "seconds",
        "steps_per_sec",
        "train_loss",
        "val_nll",
    ] {
        assert!(!summary[key].is_null(), "summary lacks {key}: {summary}");
    }
    assert_eq!(summary["steps"], 150);
    assert!(summary["val_nll"].as_f64().unwrap() < summary["initial_val_nll"].as_f64().unwrap());
    // The saved model is the best validation; the final one is kept beside it when it differs.
    let best_step = summary["best_step"].as_u64().unwrap();
    assert!(best_step <= 150 && best_step % 50 == 0, "{summary}");
    assert!(summary["val_nll"].as_f64().unwrap() <= summary["last_val_nll"].as_f64().unwrap());
    assert_eq!(
        model.with_extension("last.flow").is_file(),
        best_step < 150,
        "{summary}"
    );
    let m = model.to_str().unwrap();

    // sample → its log q must equal log-prob of the same points.
    let out = bin()
        .args(["sample", "--model", m, "-n", "50", "--seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows: Vec<Vec<f64>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| r.len() == 3));
    let xy: String = rows
        .iter()
        .map(|r| format!("{},{}\n", r[0], r[1]))
        .collect();
    let out = run_with_stdin(&["log-prob", "--model", m], &xy);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lp: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(lp.len(), 50);
    for (r, l) in rows.iter().zip(&lp) {
        assert!(
            (r[2] - l).abs() < 2e-3,
            "sample log q {} vs log-prob {l}",
            r[2]
        );
    }

    // plot: a real PNG with colour in it.
    let png = dir.join("fig.png");
    let out = bin()
        .args([
            "plot",
            "--model",
            m,
            "--out",
            png.to_str().unwrap(),
            "--res",
            "60",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    assert!(
        bytes.len() > 20_000,
        "suspiciously small PNG ({} bytes)",
        bytes.len()
    );
    let svg = dir.join("fig.svg");
    let out = bin()
        .args([
            "plot",
            "--model",
            m,
            "--out",
            svg.to_str().unwrap(),
            "--res",
            "30",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    std::fs::remove_dir_all(dir).ok();
}

/// A run whose validation is best before its last step saves that model to `--out` and the
/// final one as `<name>.last.flow`, with both NLLs in the JSON line.
#[test]
fn fit2d_keeps_the_best_validation_model() {
    let dir = tmp_dir("best");
    let model = dir.join("noisy.flow");
    let out = bin()
        .args([
            "fit2d", "--target", "moons", "--flow", "realnvp", "--layers", "2",
        ])
        .args([
            "--hidden",
            "16",
            "--steps",
            "200",
            "--batch",
            "64",
            "--eval-every",
            "10",
        ])
        .args(["--lr", "0.05", "--warmup", "0", "--seed", "1", "--quiet"])
        .args(["--out", model.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = last_json(&out);
    let (best, last) = (
        j["val_nll"].as_f64().unwrap(),
        j["last_val_nll"].as_f64().unwrap(),
    );
    assert!(best <= last, "{j}");
    if j["best_step"].as_u64().unwrap() < 200 {
        assert!(best < last, "{j}");
        let last_model = model.with_extension("last.flow");
        assert!(last_model.is_file(), "{j}");
        let score = |m: &Path| {
            let out = run_with_stdin(&["log-prob", "--model", m.to_str().unwrap()], "0.5,0.25\n");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_ne!(
            score(&model),
            score(&last_model),
            "the two files hold the same model"
        );
    }
}

#[test]
fn fit2d_on_an_energy_reports_reverse_kl() {
    let dir = tmp_dir("energy");
    let (_, summary) = fit(&dir, "u2", "realnvp", "100");
    assert!(
        summary["reverse_kl_loss"].as_f64().unwrap().is_finite(),
        "{summary}"
    );
    // Training moved the flow onto the energy: KL 19 nats after one step, measured 1.20
    // after these 100 (a KL estimate is ≥ 0 up to its Monte Carlo noise).
    let kl = summary["kl_estimate"].as_f64().unwrap();
    assert!(kl > -0.1 && kl < 2.0, "{summary}");
    assert!(summary.get("val_nll").is_none());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_gets_clear_messages() {
    let dir = tmp_dir("bad");
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).to_string();

    let out = bin()
        .args(["fit2d", "--target", "banana", "--flow", "realnvp"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("invalid value 'banana'") && e.contains("moons") && e.contains("twomoons"),
        "{e}"
    );
    let out = bin()
        .args(["fit2d", "--target", "moons", "--flow", "glow"])
        .output()
        .unwrap();
    let e = stderr(&out);
    // clap lists the families from FlowKind::ALL, the newest (nsf-ar) included.
    assert!(
        e.contains("invalid value 'glow'") && e.contains("nsf-ar"),
        "{e}"
    );
    let help = bin().args(["fit2d", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for k in flowplay::flows::FlowKind::ALL {
        assert!(
            help.contains(k.name()),
            "fit2d --help does not list {}",
            k.name()
        );
    }

    let missing = dir.join("nope.flow");
    let out = bin()
        .args(["sample", "--model", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));

    let junk = dir.join("junk.flow");
    std::fs::write(&junk, b"this is not a model").unwrap();
    let out = bin()
        .args(["sample", "--model", junk.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let msg = stderr(&out);
    assert!(
        msg.contains("truncated") || msg.contains("corrupt"),
        "{msg}"
    );
    assert!(!msg.contains("panicked"), "{msg}");

    let (model, _) = fit(&dir, "moons", "maf", "5");
    let out = run_with_stdin(
        &["log-prob", "--model", model.to_str().unwrap()],
        "1,2\n3,x\n",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    let out = run_with_stdin(&["log-prob", "--model", model.to_str().unwrap()], "1,2,3\n");
    assert!(
        stderr(&out).contains("expected 2 columns"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "fit2d", "log-prob", "sample", "plot", "bench", "data", "train", "eval",
    ] {
        let out = bin().args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success(), "{cmd} --help failed");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}
