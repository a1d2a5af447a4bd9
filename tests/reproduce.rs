//! `flowplay reproduce --quick` end to end: each experiment's figures are checked against
//! bounds chosen from runs (docs/reproductions.md), against what must hold whatever the run
//! (a KL is not negative), and where possible against an independent computation (the KL of a
//! saved model as a grid integral, not the command's Monte Carlo estimate).
//!
//! Each test gives the command one thread, so that the three run side by side on 2 cores.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::{Tensor, TensorData};
use flowplay::targets::{Energy, Target};

fn reproduce(name: &str) -> (PathBuf, serde_json::Value) {
    let dir =
        std::env::temp_dir().join(format!("flowplay-reproduce-{name}-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_flowplay"))
        .args([
            "reproduce",
            name,
            "--quick",
            "--threads",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reproduce {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().expect("a summary line");
    let summary: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(summary["budget"], "quick");
    (dir, summary)
}

/// A PNG of at least `w × h` pixels with a picture in every cell of a `rows × cols` grid
/// (each cell shows more than 8 distinct colours: a blank or half-drawn figure fails).
fn assert_png(path: &Path, (w, h): (u32, u32), (rows, cols): (usize, usize)) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (info.width as usize, info.height as usize);
    assert!(
        width >= w as usize && height >= h as usize,
        "{}: {width}×{height}",
        path.display()
    );
    let channels = info.line_size / width;
    for r in 0..rows {
        for c in 0..cols {
            let mut colours = std::collections::HashSet::new();
            for y in (r * height / rows..(r + 1) * height / rows).step_by(2) {
                for x in (c * width / cols..(c + 1) * width / cols).step_by(2) {
                    let i = y * info.line_size + x * channels;
                    colours.insert(pixels[i..i + channels.min(3)].to_vec());
                }
            }
            assert!(
                colours.len() > 8,
                "{}: cell ({r}, {c}) of {rows}×{cols} has {} colours",
                path.display(),
                colours.len()
            );
        }
    }
}

/// `KL(q ‖ p)` of a saved 2D model against an energy by the midpoint rule on a 400 × 400 grid
/// over the energy's box: `Σ q (log q + U + log Z) · area`, `log Z` by the same rule.
fn grid_kl(model: &Path, energy: Energy) -> f64 {
    let device = flowplay::device::cpu();
    let (flow, _) = flowplay::model_file::load(model, &device).unwrap();
    let b = energy.bounds();
    let res = 400;
    let grid = b.grid(res);
    let x = Tensor::<2>::from_data(TensorData::new(grid.clone(), [res * res, 2]), &device);
    let log_q: Vec<f32> = flow.log_prob(x).into_data().try_to_vec::<f32>().unwrap();
    let area = b.area() / (res * res) as f64;
    let u: Vec<f64> = grid
        .chunks(2)
        .map(|p| energy.energy(p[0] as f64, p[1] as f64))
        .collect();
    let z: f64 = u.iter().map(|u| (-u).exp()).sum::<f64>() * area;
    log_q
        .iter()
        .zip(&u)
        .map(|(&lq, u)| {
            let lq = lq as f64;
            lq.exp() * (lq + u + z.ln()) * area
        })
        .sum()
}

/// Rezende & Mohamed's figure: on every energy the 32-layer planar flow fits far better than
/// the 2-layer one, radial likewise, NICE likewise except on U2 (a shear, which one additive
/// coupling represents exactly: both lengths fit it); no KL is negative; the saved U2/U4
/// models' KLs agree with a grid integral.
#[test]
fn rezende2015_longer_flows_fit_better_and_the_kl_matches_a_grid_integral() {
    let (dir, s) = reproduce("rezende2015");
    let kl = |e: &str, c: &str| s["kl"][e][c].as_f64().unwrap();
    for e in ["u1", "u2", "u3", "u4"] {
        for family in ["planar", "nice", "radial"] {
            if (e, family) == ("u2", "nice") {
                // Measured 0.022 at K = 2 and 32 (quick).
                for k in [2, 32] {
                    let v = kl(e, &format!("nice K={k}"));
                    assert!(v < 0.1, "u2 nice K={k}: {v}");
                }
                continue;
            }
            let (short, long) = (
                kl(e, &format!("{family} K=2")),
                kl(e, &format!("{family} K=32")),
            );
            assert!(
                long < 0.7 * short,
                "{e} {family}: K=32 {long} vs K=2 {short}"
            );
        }
        // Measured 0.019–0.43 (planar K=32, quick; the ratios above ≤ 0.52). One thread and
        // fixed seeds: another machine differs only by its kernels' rounding, far below these
        // margins, so the bounds are those of 2026-12-03 again (0.8 gave room nothing used).
        assert!(kl(e, "planar K=32") < 0.7, "{e}: {}", kl(e, "planar K=32"));
        for (column, v) in s["kl"][e].as_object().unwrap() {
            assert!(v.as_f64().unwrap() > -0.02, "{e} {column}: negative KL {v}");
        }
    }
    assert_eq!(s["nan_events"], 0);
    for (e, name) in [
        (Energy::U2, "u2-planar-K32.flow"),
        (Energy::U4, "u4-radial-K8.flow"),
    ] {
        let column = if name.contains("planar") {
            "planar K=32"
        } else {
            "radial K=8"
        };
        let grid = grid_kl(&dir.join("models").join(name), e);
        let reported = kl(e.name(), column);
        assert!(
            (grid - reported).abs() < 0.03,
            "{name}: grid KL {grid} vs reported {reported}"
        );
    }
    // Four energies × (the truth + 9 fits); panel (d) one plot per energy.
    assert_png(&dir.join("rezende2015.png"), (1000, 600), (4, 10));
    assert_png(&dir.join("rezende2015-kl.png"), (1000, 200), (1, 4));
    let table = std::fs::read_to_string(dir.join("table.md")).unwrap();
    assert_eq!(table.lines().count(), 6, "{table}");
}

/// Every flow on every target: no figure below what a proper density allows (an NLL under the
/// entropy, a negative KL), every fit finite, and on the easy targets every family close.
#[test]
fn gallery2d_figures_are_proper_and_the_easy_targets_are_fitted() {
    let (dir, s) = reproduce("gallery2d");
    let figures = s["figures"].as_object().unwrap();
    assert_eq!(figures.len(), Target::all().len());
    for (target, row) in figures {
        let row = row.as_object().unwrap();
        assert_eq!(row.len(), flowplay::flows::FlowKind::ALL.len(), "{target}");
        for (flow, f) in row {
            let v = f["value"].as_f64().unwrap();
            assert!(v.is_finite(), "{target} {flow}: {f}");
            if f["kind"] != "val_nll" {
                // A KL estimate: ≥ 0 up to the noise of 2 000 validation points / 20 000 samples.
                assert!(v > -0.06, "{target} {flow}: {f} is below zero");
            }
        }
    }
    // Every validation NLL is a likelihood, not the box's penalty for points outside it
    // (mbank's learnt box once published 1 077 610 nats on pinwheel): the targets' entropies
    // are 2.4–3.8 nats and the quick fits land within 1.1 of them.
    for (target, row) in figures {
        for (flow, f) in row.as_object().unwrap() {
            if f["kind"] == "val_nll" {
                assert!(f["value"].as_f64().unwrap() < 5.0, "{target} {flow}: {f}");
            }
        }
    }
    // expnormal (measured −0.020…0.095 quick) and 8gaussians with splines (0.12–0.13).
    for (flow, f) in figures["expnormal"].as_object().unwrap() {
        assert!(f["value"].as_f64().unwrap() < 0.2, "expnormal {flow}: {f}");
    }
    for flow in ["nsf", "nsf-ar"] {
        let v = figures["8gaussians"][flow]["value"].as_f64().unwrap();
        assert!(v < 0.35, "8gaussians {flow}: {v}");
    }
    let grid = (
        Target::all().len(),
        flowplay::flows::FlowKind::ALL.len() + 1,
    );
    assert_png(&dir.join("gallery2d.png"), (1000, 1500), grid);
}

/// mbank's tutorial: the flow reaches the data's entropy, matches both marginals, and its
/// learnt box starts near x = 0, where Exp(1) data begin.
#[test]
fn mbank_flow_matches_the_expnormal_data() {
    let (dir, s) = reproduce("mbank");
    let gap = s["nll_minus_entropy"].as_f64().unwrap();
    // Measured −0.0002 (quick): within the noise of 2 000 validation points.
    assert!((-0.05..0.08).contains(&gap), "NLL − entropy {gap}");
    for tv in s["marginal_tv"].as_array().unwrap() {
        // Measured 0.03; two samples of the same density give ≈ 0.03 at 40 bins.
        assert!(tv.as_f64().unwrap() < 0.08, "marginal TV {tv}");
    }
    // The box holds the training data's extent (x from ≈ 0, width ≈ 11) plus at least 25 % of
    // its width below: it starts between 2.7 and 4 below x = 0.
    let low_x = s["box"][0][0].as_f64().unwrap();
    assert!((-4.0..-2.7).contains(&low_x), "box starts at x = {low_x}");
    for png in ["corner.png", "history.png"] {
        assert_png(&dir.join(png), (600, 400), (1, 1));
    }
    let device = flowplay::device::cpu();
    let (flow, meta) = flowplay::model_file::load(&dir.join("mbank.flow"), &device).unwrap();
    assert_eq!(flow.dim(), 2);
    assert_eq!(meta.spec.unwrap().kind, flowplay::flows::FlowKind::Mbank);
    // Held-out points just beyond the training data's extent (its box's `low`/`high`) score
    // like points just inside it: no penalty for leaving the sample's range.
    let flowplay::flows::LayerConfig::Tanh(b) = &flow.config().layers[0] else {
        panic!("mbank's first layer is its box");
    };
    assert!(b.margins, "a box around the data");
    let (lo, hi) = (&b.low, &b.high);
    let (wx, wy) = (hi[0] - lo[0], hi[1] - lo[1]);
    let pairs = [
        // (just inside, just beyond): the top and bottom of y, the far tail of x.
        ([1.0, hi[1] - 0.01 * wy], [1.0, hi[1] + 0.02 * wy]),
        ([1.0, lo[1] + 0.01 * wy], [1.0, lo[1] - 0.02 * wy]),
        ([hi[0] - 0.01 * wx, 0.0], [hi[0] + 0.02 * wx, 0.0]),
    ];
    let rows: Vec<f32> = pairs
        .iter()
        .flat_map(|(a, b)| a.iter().chain(b))
        .copied()
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(rows, [6, 2]), &device);
    let lp: Vec<f32> = flow.log_prob(x).into_data().try_to_vec::<f32>().unwrap();
    println!("FIGURE mbank: log q just inside / just beyond the training extent: {lp:?}");
    for (k, pair) in lp.chunks(2).enumerate() {
        assert!(
            pair.iter().all(|v| v.is_finite()) && (pair[0] - pair[1]).abs() < 5.0,
            "{:?}: log q inside {} vs just beyond {}",
            pairs[k],
            pair[0],
            pair[1]
        );
    }
}
