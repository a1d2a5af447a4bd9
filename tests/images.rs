//! Image flows end to end on the bundled MNIST subset (`www/data/mnist-sample`: the first 1000
//! training and 500 test images, made by `flowplay data subset mnist`): training lowers
//! bits/dim (exact and self-normalized gradients), `.flow` round trips bit-exactly, the CLI's
//! presets all start, resume continues, Ctrl-C saves, eval/sample work, bad input is named.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use burn::module::Module;
use flowplay::flows::multiscale::{ImageFlowSpec, Mixer, conv_flow, glow};
use flowplay::images::fetch::load;
use flowplay::images::{Dataset, ImageSet, Split};
use flowplay::model_file::{self, FlowMeta, ImageMeta};
use flowplay::train::images::{GecoSettings, ImageTrainSettings, ImageTrainer, evaluate_bpd};
use flowplay::train::params::param_values;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/mnist-sample");
/// The tiny classifier's accuracy floor: it reached 0.59 on 300 test images after 150 steps
/// (seed 3; label NLL 3.7 nats, ECE 0.35 — confidently wrong at this size), chance is 0.10.
const ACCURACY_FLOOR: f64 = 0.4;
/// The tiny hybrid model's floor: 0.90 on the same 300 images after the same 150 steps (label
/// NLL 0.37 nats, ECE 0.10): the discriminative head learns far faster than Bayes' rule.
const HYBRID_ACCURACY_FLOOR: f64 = 0.75;

/// Tests that train share the device's random generator: run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn sample_split(split: Split) -> ImageSet {
    load(Dataset::Mnist, split, Some(Path::new(SAMPLE))).expect("bundled MNIST subset")
}

fn spec(levels: usize, steps: usize, hidden: usize, mixer: Mixer) -> ImageFlowSpec {
    ImageFlowSpec::new(Dataset::Mnist.shape(), levels, steps, hidden, mixer)
}

fn settings(lr: f64) -> ImageTrainSettings {
    ImageTrainSettings {
        batch: 32,
        lr,
        warmup_steps: 10,
        seed: 3,
        ..ImageTrainSettings::default()
    }
}

/// Trains `steps` steps over the training subset; returns (test bpd before, after, trainer).
fn train(
    config: &flowplay::flows::FlowConfig,
    s: ImageTrainSettings,
    steps: usize,
) -> (f64, f64, ImageTrainer) {
    let device = flowplay::device::cpu();
    let train = sample_split(Split::Train);
    let test = sample_split(Split::Test).take(200);
    let mut t = ImageTrainer::new(config, s.clone(), &train, &device).unwrap();
    let before = evaluate_bpd(&t.inference_model(), &test, 100, &device).unwrap();
    for k in 0..steps {
        let idx: Vec<usize> = (0..s.batch)
            .map(|i| (k * s.batch + i) % train.len())
            .collect();
        let out = t.train_step(&train, &idx).unwrap();
        assert!(!out.rolled_back, "step {k} rolled back");
    }
    let after = evaluate_bpd(&t.inference_model(), &test, 100, &device).unwrap();
    eprintln!("test bits/dim {before:.3} → {after:.3} after {steps} steps");
    (before, after, t)
}

#[test]
fn a_tiny_glow_learns_mnist_digits() {
    let _g = serial();
    let config = glow(&spec(2, 2, 16, Mixer::Conv1x1Lu)).unwrap();
    let (before, after, _) = train(&config, settings(3e-3), 60);
    assert!(before.is_finite() && after.is_finite());
    assert!(
        after < before - 0.5,
        "test bits/dim went from {before:.3} to {after:.3}"
    );
}

/// A seeded tiny class-conditional Glow (a Gaussian per class at both levels) trained on the
/// 1000 bundled training images classifies held-out test images by Bayes' rule far above
/// chance (10 %). Floor from runs: [`ACCURACY_FLOOR`].
#[test]
fn a_tiny_class_conditional_glow_classifies_digits() {
    use flowplay::explore::classify::{ClassifierScores, class_log_likelihoods};
    let _g = serial();
    let config = glow(&ImageFlowSpec {
        classes: 10,
        ..spec(2, 2, 16, Mixer::Conv1x1Lu)
    })
    .unwrap();
    assert_eq!(config.classes(), Some(10));
    let (_, after, t) = train(&config, settings(3e-3), 150);
    assert!(after.is_finite());
    let device = flowplay::device::cpu();
    let test = sample_split(Split::Test).take(300);
    let flow = t.inference_model();
    let mut scores = ClassifierScores::new(test.shape.dim(), 10);
    let indices: Vec<usize> = (0..test.len()).collect();
    for batch in indices.chunks(50) {
        let x = flowplay::images::dequantize_batch(&test, batch, None, &device);
        let ll = pollster::block_on(class_log_likelihoods(&flow, x, 10)).unwrap();
        for (&i, l) in batch.iter().zip(&ll) {
            scores.add(test.labels[i] as usize, l);
        }
    }
    let r = scores.report();
    eprintln!(
        "tiny classifier: accuracy {:.3}, label NLL {:.3}, ECE {:.3}, {:.3} bits/dim",
        r.accuracy, r.label_nll, r.ece, r.bits_per_dim
    );
    assert!(r.accuracy > ACCURACY_FLOOR, "accuracy {:.3}", r.accuracy);
    assert_eq!(r.confusion.iter().flatten().sum::<usize>(), 300);
}

/// A seeded tiny hybrid model (Nalisnick et al. 2019: an unconditional Glow with a linear
/// softmax head on its latent) trained on the bundled images: its first step's label NLL is
/// exactly `ln 10` (the head starts at zero), the reported training bits/dim leave the label
/// term out (they match the plain Glow's first step), and after training it classifies
/// held-out images far above chance, through the same code as `eval --task classify`.
/// Floor from runs: [`HYBRID_ACCURACY_FLOOR`].
#[test]
fn a_tiny_hybrid_glow_classifies_digits() {
    use flowplay::explore::classify::{Classifier, ClassifierScores, class_scores};
    use flowplay::flows::multiscale::HybridSpec;
    let _g = serial();
    let plain = spec(2, 2, 16, Mixer::Conv1x1Lu);
    let hybrid = ImageFlowSpec {
        hybrid: Some(HybridSpec {
            classes: 10,
            label_weight: 1.0,
        }),
        ..plain.clone()
    };
    let device = flowplay::device::cpu();
    let train_set = sample_split(Split::Train);
    let idx: Vec<usize> = (0..32).collect();
    let first_step = |s: &ImageFlowSpec| {
        let mut t =
            ImageTrainer::new(&glow(s).unwrap(), settings(3e-3), &train_set, &device).unwrap();
        t.train_step(&train_set, &idx).unwrap()
    };
    let (p, h) = (first_step(&plain), first_step(&hybrid));
    assert_eq!(p.label_nll, None);
    let nll = h.label_nll.expect("a hybrid step reports its label NLL");
    assert!((nll - 10f64.ln()).abs() < 1e-5, "first label NLL {nll}");
    assert!(
        (p.loss_bpd - h.loss_bpd).abs() < 1e-4,
        "{} vs {}",
        p.loss_bpd,
        h.loss_bpd
    );

    let config = glow(&hybrid).unwrap();
    assert_eq!((config.classes(), config.head_classes()), (None, Some(10)));
    let (_, after, t) = train(&config, settings(3e-3), 150);
    assert!(after.is_finite());
    let flow = t.inference_model();
    let classifier = Classifier::of(&flow).unwrap();
    assert_eq!(classifier, Classifier::Hybrid { classes: 10 });
    let test = sample_split(Split::Test).take(300);
    let mut scores = ClassifierScores::new(test.shape.dim(), 10);
    let indices: Vec<usize> = (0..test.len()).collect();
    for batch in indices.chunks(100) {
        let x = flowplay::images::dequantize_batch(&test, batch, None, &device);
        let scored = pollster::block_on(class_scores(&flow, classifier, x)).unwrap();
        for (&i, s) in batch.iter().zip(&scored) {
            scores.add_scores(test.labels[i] as usize, s);
        }
    }
    let r = scores.report();
    eprintln!(
        "tiny hybrid: accuracy {:.3}, label NLL {:.3}, ECE {:.3}, {:.3} bits/dim",
        r.accuracy, r.label_nll, r.ece, r.bits_per_dim
    );
    assert!(
        r.accuracy > HYBRID_ACCURACY_FLOOR,
        "accuracy {:.3}",
        r.accuracy
    );
    assert_eq!(r.bits_per_dim, r.bits_per_dim_given_label);
    let labels = flowplay::train::images::evaluate_labels(&flow, &test, 100, &device)
        .unwrap()
        .unwrap();
    assert!((labels.0 - r.accuracy).abs() < 1e-12 && (labels.1 - r.label_nll).abs() < 1e-4);
}

/// The self-normalized gradient alone (no exact log-det gradient anywhere) trains a CNN flow,
/// judged by the exact bits/dim, and its reconstruction loss keeps `R` close to `W⁻¹`.
#[test]
fn self_normalized_training_lowers_exact_bits_per_dim() {
    let _g = serial();
    let config = conv_flow(&spec(1, 2, 0, Mixer::SelfNorm { kernel: 3 })).unwrap();
    let (before, after, t) = train(&config, settings(2e-3), 40);
    assert!(
        after < before - 0.2,
        "test bits/dim went from {before:.3} to {after:.3}"
    );
    let train_set = sample_split(Split::Train);
    let mut t = t;
    let idx: Vec<usize> = (0..32).collect();
    let s = t.train_step(&train_set, &idx).unwrap();
    // Summed over 784 dimensions whose inputs (logit pixels) have variance ≈ 40: a mean squared
    // error per dimension under 0.05 means R inverts W to about 0.1 %.
    assert!(
        s.recon > 0.0 && s.recon < 0.05 * 784.0,
        "reconstruction loss {}",
        s.recon
    );
}

/// GECO steps its multiplier: λ grows while the reconstruction error is above the tolerance
/// and shrinks while it is below, each by `exp(η·Ĉ)` of the averaged constraint.
#[test]
fn geco_raises_lambda_above_its_tolerance_and_lowers_it_below() {
    let _g = serial();
    let device = flowplay::device::cpu();
    let config = conv_flow(&spec(1, 1, 0, Mixer::SelfNorm { kernel: 3 })).unwrap();
    let train = sample_split(Split::Train);
    for (tolerance, should_rise) in [(0.0, true), (1e6, false)] {
        let s = ImageTrainSettings {
            geco: Some(GecoSettings {
                tolerance,
                rate: 1e-3,
                momentum: 0.5,
            }),
            lambda: 1.0,
            ..settings(1e-3)
        };
        let mut t = ImageTrainer::new(&config, s.clone(), &train, &device).unwrap();
        let mut lambdas = vec![t.lambda];
        for k in 0..3 {
            let idx: Vec<usize> = (k * s.batch..(k + 1) * s.batch).collect();
            let out = t.train_step(&train, &idx).unwrap();
            assert!(out.recon > 0.0, "no reconstruction error to constrain");
            lambdas.push(t.lambda);
        }
        // Below the tolerance λ falls until it reaches its floor (10⁻⁶), so "never rises" there.
        let monotone = lambdas.windows(2).all(|w| {
            if should_rise {
                w[1] > w[0]
            } else {
                w[1] <= w[0]
            }
        });
        let moved = if should_rise {
            lambdas[3] > 1.0
        } else {
            lambdas[3] < 1.0
        };
        assert!(
            monotone && moved,
            "tolerance {tolerance}: λ went {lambdas:?}"
        );
    }
}

#[test]
fn image_model_files_round_trip_bit_exactly() {
    let _g = serial();
    let config = glow(&spec(2, 1, 8, Mixer::Exponential { kernel: 3 })).unwrap();
    let (_, _, t) = train(&config, settings(2e-3), 3);
    let flow = t.inference_model();
    let mut meta = FlowMeta::new(flow.config().clone());
    meta.image = Some(ImageMeta {
        shape: Dataset::Mnist.shape(),
        dataset: Some("mnist".into()),
        preset: None,
    });
    let bytes = model_file::to_bytes(&flow, &meta).unwrap();
    let device = flowplay::device::cpu();
    let (back, meta_back) = model_file::from_bytes(bytes.clone(), &device).unwrap();
    assert_eq!(meta_back, meta);
    let test = sample_split(Split::Test).take(8);
    let x =
        || flowplay::images::dequantize_batch(&test, &(0..8).collect::<Vec<_>>(), None, &device);
    let a = flow.log_prob(x()).into_data().try_to_vec::<f32>().unwrap();
    let b = back.log_prob(x()).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(a, b, "log-densities differ after a save/load round trip");

    // A truncated file and a wrong image shape are named.
    let err = model_file::from_bytes(bytes[..bytes.len() / 2].to_vec(), &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
    meta.image.as_mut().unwrap().shape = flowplay::flows::image::ImageShape::new(1, 8, 8);
    let bytes = model_file::to_bytes(&flow, &meta).unwrap();
    let err = model_file::from_bytes(bytes, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("image shape 1×8×8"), "{err}");
}

// ---- the CLI ----

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowplay"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flowplay-img-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn last_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_else(|| {
        panic!(
            "no stdout; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every MNIST preset of the SNF paper (and ours) builds, runs a forward and inverse pass on
/// real images and reports its size; the CIFAR/ImageNet ones say which files they need.
#[test]
fn every_preset_starts() {
    let names = [
        "selfnorm_fc_mnist",
        "exact_fc_mnist",
        "selfnorm_cnn_mnist",
        "exact_cnn_mnist",
        "emerging_cnn_mnist",
        "exponential_cnn_mnist",
        "conv1x1_glow_mnist",
        "selfnorm_glow_mnist",
        "geco_selfnorm_glow_mnist",
        "glow_mnist_small",
        "selfnorm_glow_mnist_small",
        "glow_mnist_gpu",
    ];
    for name in names {
        let out = run(&["train", "--preset", name, "--dry-run", "--data-dir", SAMPLE]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let j = last_json(&out);
        assert_eq!(j["preset"], name);
        assert!(j["params"].as_u64().unwrap() > 0, "{name}: {j}");
        let bpd = j["initial_bpd"].as_f64().unwrap();
        assert!(bpd.is_finite() && bpd > 0.0, "{name}: {j}");
        assert!(
            j["max_inverse_error"].as_f64().unwrap() < 1e-2,
            "{name}: {j}"
        );
    }
    let fashion = concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/fashion-mnist-sample");
    let out = run(&[
        "train",
        "--preset",
        "glow_fashion_mnist_small",
        "--dry-run",
        "--data-dir",
        fashion,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["selfnorm_glow_cifar10", "conv1x1_glow_imagenet32"] {
        let out = run(&["train", "--preset", name, "--dry-run"]);
        assert!(!out.status.success());
        let e = stderr(&out);
        assert!(
            e.contains("--data-dir") && e.contains("not available offline"),
            "{e}"
        );
    }
    let out = run(&["train", "--preset", "glow_mnist_huge"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown preset 'glow_mnist_huge'"));
    let out = run(&["train", "--list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("snf_timescaling"));
}

/// `train` of a tiny `glow_mnist_small` (width 8, depth 1, batch 16) on the bundled subset.
fn tiny_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "train",
        "--preset",
        "glow_mnist_small",
        "--data-dir",
        SAMPLE,
        "--width",
        "8",
        "--depth",
        "1",
        "--batch",
        "16",
        "--val-images",
        "100",
        "--test-images",
        "50",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

fn tiny_run(dir: &Path, extra: &[&str]) -> Output {
    bin().args(tiny_args(dir, extra)).output().unwrap()
}

/// A hybrid run's summary keeps the best epoch's validation bits/dim apart from the objective
/// that chose it (bits/dim + β·label NLL): `best_val_bpd` is the figure the metrics line of
/// that epoch reports, `best_val_objective` exceeds it by β times that line's label NLL, and
/// `--resume` carries both.
#[test]
fn a_hybrid_run_reports_bits_per_dim_apart_from_its_objective() {
    let _g = serial();
    let dir = tmp_dir("hybrid-summary");
    let mut args = tiny_args(&dir, &["--epochs", "1", "--max-steps", "4"]);
    args[2] = "glow_mnist_hybrid_small".into();
    let out = bin().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let check = |j: &serde_json::Value| {
        let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        let line: serde_json::Value =
            serde_json::from_str(metrics.lines().next().expect("a metrics line")).unwrap();
        let (bpd, objective) = (
            j["best_val_bpd"].as_f64().unwrap(),
            j["best_val_objective"].as_f64().unwrap(),
        );
        assert_eq!(bpd, line["val_bpd"].as_f64().unwrap(), "{j} {line}");
        let label_nll = line["val_label_nll"].as_f64().unwrap();
        // glow_mnist_hybrid_small weighs the label NLL by β = 1.
        assert!(
            (objective - bpd - label_nll).abs() < 1e-9 && label_nll > 0.0,
            "{j} {line}"
        );
    };
    check(&last_json(&out));
    let d = dir.to_str().unwrap();
    // No steps left to take: the resumed run evaluates the same model again and keeps both
    // figures from its state.
    let out = run(&[
        "train",
        "--resume",
        "--out",
        d,
        "--data-dir",
        SAMPLE,
        "--max-steps",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    check(&last_json(&out));
}

/// `--init-from` starts a new run from a model file's weights: with one step at a learning
/// rate of almost nothing, its test bits/dim are those of the model it started from (within
/// what one tiny step moves), far from a freshly initialised run's; a file of another
/// architecture is refused by name.
#[test]
fn init_from_starts_a_run_from_a_model_files_weights() {
    let _g = serial();
    let trained = tmp_dir("init-from-source");
    let out = tiny_run(
        &trained,
        &["--epochs", "1", "--max-steps", "40", "--lr", "0.003"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let source_bpd = last_json(&out)["test_bpd"].as_f64().unwrap();
    let model = trained.join("last.flow");
    let one_step = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["--epochs", "1", "--max-steps", "1", "--lr", "1e-9"];
        args.extend_from_slice(extra);
        let out = tiny_run(dir, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        last_json(&out)["test_bpd"].as_f64().unwrap()
    };
    let continued = one_step(
        &tmp_dir("init-from"),
        &["--init-from", model.to_str().unwrap()],
    );
    let fresh = one_step(&tmp_dir("init-from-fresh"), &[]);
    assert!(
        (continued - source_bpd).abs() < 0.01,
        "started from a model at {source_bpd} bits/dim, got {continued}"
    );
    assert!(
        fresh - continued > 0.2,
        "a fresh start ({fresh}) is no worse than the loaded model ({continued})"
    );
    // Another width: refused, naming the option and the preset.
    let mut args = tiny_args(
        &tmp_dir("init-from-refused"),
        &["--init-from", model.to_str().unwrap()],
    );
    let width = args.iter().position(|a| a == "--width").unwrap();
    args[width + 1] = "12".into();
    let refused = bin().args(args).output().unwrap();
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("--init-from") && err.contains("not those of preset glow_mnist_small"),
        "{err}"
    );
}

/// A run resumed without Adam's moments (a state kept without `optimizer.bpk`, as
/// `scripts/cpu-train.sh save` keeps it) warms its learning rate up again from the step it
/// resumes at, and says so.
#[test]
fn resume_without_adams_moments_warms_up_again() {
    let _g = serial();
    let dir = tmp_dir("resume-no-moments");
    let out = tiny_run(&dir, &["--epochs", "1", "--max-steps", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_file(dir.join("optimizer.bpk")).unwrap();
    let d = dir.to_str().unwrap();
    let out = run(&[
        "train",
        "--resume",
        "--out",
        d,
        "--data-dir",
        SAMPLE,
        "--max-steps",
        "4",
        "--test-images",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("start afresh") && err.contains("warms up again over 200 steps"),
        "{err}"
    );
}

/// A run stops after `--max-steps`, inside its first epoch (56 steps of 16 images); `--resume`
/// continues from its state with the step count and metrics carried on; eval and sample work on
/// the result.
#[test]
fn resume_continues_and_the_model_evaluates_and_samples() {
    let _g = serial();
    let dir = tmp_dir("resume");
    let out = tiny_run(&dir, &["--epochs", "1", "--max-steps", "6"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = last_json(&out);
    assert_eq!(first["steps"], 6);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 6);
    assert_eq!(
        (&state["epoch"], &state["step_in_epoch"]),
        (&0.into(), &6.into())
    );
    assert!(state["rng_state"].as_u64().is_some(), "{state}");

    let d = dir.to_str().unwrap();
    let out = run(&[
        "train",
        "--resume",
        "--out",
        d,
        "--data-dir",
        SAMPLE,
        "--epochs",
        "2",
        "--max-steps",
        "12",
        "--test-images",
        "50",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Settings of the run cannot change on resume.
    let out2 = run(&["train", "--resume", "--out", d, "--lr", "0.1"]);
    assert!(!out2.status.success());
    assert!(
        stderr(&out2).contains("--lr cannot change"),
        "{}",
        stderr(&out2)
    );
    // Adam's moments came back too (keyed by the saved parameter ids), so no second warm-up.
    assert!(dir.join("optimizer.bpk").is_file());
    assert!(!stderr(&out).contains("start afresh"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warms up again"), "{}", stderr(&out));
    let second = last_json(&out);
    assert_eq!(second["steps"], 12, "{second}");
    assert_eq!(
        second["epochs"], 0,
        "still inside the first epoch: {second}"
    );
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
    assert!(dir.join("samples-step12.png").is_file());
    let test_bpd = second["test_bpd"].as_f64().unwrap();
    assert!(test_bpd.is_finite() && test_bpd > 0.5 && test_bpd < 8.0);

    let model = dir.join("model.flow");
    let m = model.to_str().unwrap();
    let out = run(&[
        "eval",
        "--model",
        m,
        "--data",
        "mnist-test",
        "--data-dir",
        SAMPLE,
        "--limit",
        "50",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = last_json(&out);
    let bpd = j["bits_per_dim"].as_f64().unwrap();
    // The same 50 images, the same fixed dequantisation noise: the summary's figure.
    assert!((bpd - test_bpd).abs() < 1e-6, "{bpd} vs {test_bpd}");
    let nats = j["nll_nats"].as_f64().unwrap();
    assert!((nats - bpd * 784.0 * std::f64::consts::LN_2).abs() < 1e-6);

    // `--record` writes the figure into the file's summary, where `models index` reads it —
    // only for a whole test split; the weights stay as they were.
    let recorded = dir.join("recorded.flow");
    std::fs::copy(&model, &recorded).unwrap();
    let r = recorded.to_str().unwrap();
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--model",
            r,
            "--data",
            "mnist-test",
            "--data-dir",
            SAMPLE,
        ];
        args.extend(extra);
        run(&args)
    };
    let out = eval(&["--limit", "50", "--record"]);
    assert!(
        !out.status.success() && stderr(&out).contains("whole test split"),
        "{}",
        stderr(&out)
    );
    let out = eval(&["--record"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let whole = last_json(&out)["bits_per_dim"].as_f64().unwrap();
    let (_, meta) = model_file::load(&recorded, &flowplay::device::cpu()).unwrap();
    let written = meta.summary.as_ref().unwrap()["test_bpd"].as_f64().unwrap();
    assert!(
        (written - whole).abs() < 1e-9,
        "{written} recorded, {whole} measured"
    );
    assert!(
        (whole - test_bpd).abs() > 1e-6,
        "500 images, not the run's 50: {whole}"
    );
    let again = last_json(&eval(&[]))["bits_per_dim"].as_f64().unwrap();
    assert_eq!(again, whole, "recording changed the weights");

    let grid = dir.join("grid.png");
    let out = run(&[
        "sample",
        "--model",
        m,
        "-n",
        "16",
        "--temperature",
        "0.7",
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let png = std::fs::read(&grid).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");

    // Bad input is named.
    let out = run(&["eval", "--model", m, "--data", "mnist"]);
    assert!(stderr(&out).contains("names no split"), "{}", stderr(&out));
    let out = run(&[
        "eval",
        "--model",
        m,
        "--data",
        "fashion-mnist-test",
        "--data-dir",
        d,
    ]);
    assert!(stderr(&out).contains("fashion-mnist"), "{}", stderr(&out));
    let bad = dir.join("bad.flow");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ").unwrap();
    let out = run(&[
        "eval",
        "--model",
        bad.to_str().unwrap(),
        "--data",
        "mnist-test",
    ]);
    assert!(
        stderr(&out).contains("corrupt model file"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A run stopped and resumed is the run straight through: 70 steps in one go (past the first
/// epoch's 56) against 20 steps, a resume to 45 (the stop inside the first epoch and then
/// inside the second) and a resume to 70 — the same weights bit for bit (data order, noise
/// generator, Adam's moments and step all continue; CPU, one thread each).
#[test]
fn a_run_stopped_and_resumed_equals_the_run_straight_through() {
    let _g = serial();
    let (a, b) = (tmp_dir("straight"), tmp_dir("stopped"));
    let one_thread = |args: Vec<String>| {
        let out = bin()
            .env("RAYON_NUM_THREADS", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    fn limit(n: &str) -> Vec<&str> {
        vec!["--epochs", "3", "--max-steps", n]
    }
    one_thread(tiny_args(&a, &limit("70")));
    one_thread(tiny_args(&b, &limit("20")));
    // (tiny_args tests 50 images at the end; the resumed legs skip it.)
    let d = b.to_str().unwrap();
    for n in ["45", "70"] {
        let mut args = vec![
            "train",
            "--resume",
            "--out",
            d,
            "--data-dir",
            SAMPLE,
            "--test-images",
            "0",
        ];
        args.extend(limit(n));
        one_thread(args.into_iter().map(String::from).collect());
    }
    let device = flowplay::device::cpu();
    let weights = |dir: &Path| {
        let (flow, _) = model_file::load(&dir.join("last.flow"), &device).unwrap();
        param_values(&flow).unwrap()
    };
    let (wa, wb) = (weights(&a), weights(&b));
    assert_eq!(wa.len(), wb.len());
    let worst = wa
        .iter()
        .zip(&wb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert_eq!(worst, 0.0, "largest weight difference {worst}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        (&state["epoch"], &state["step_in_epoch"]),
        (&1.into(), &14.into()),
        "{state}"
    );
    std::fs::remove_dir_all(a).ok();
    std::fs::remove_dir_all(b).ok();
}

/// `--resume` on a damaged run state names the problem instead of crashing: a batch of 0 in
/// `state.json` (it divided by zero), and an optimizer state with the right number of tensors but
/// another model's shapes (it reached the update kernel's length check).
#[test]
fn resume_refuses_a_damaged_state() {
    let _g = serial();
    let dir = tmp_dir("resume-damaged");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for (d, width) in [(&a, "8"), (&b, "12")] {
        let mut args = tiny_args(d, &["--epochs", "1", "--max-steps", "2"]);
        let w = args.iter().position(|x| x == "--width").unwrap();
        args[w + 1] = width.into();
        let out = bin().args(args).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let resume = |d: &Path| {
        run(&[
            "train",
            "--resume",
            "--out",
            d.to_str().unwrap(),
            "--data-dir",
            SAMPLE,
            "--max-steps",
            "4",
            "--test-images",
            "20",
        ])
    };
    let read = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("state.json")).unwrap()).unwrap()
    };
    let state_a = read(&a);

    // Batch 0.
    let mut zero = state_a.clone();
    zero["preset"]["train"]["batch"] = 0.into();
    std::fs::write(a.join("state.json"), zero.to_string()).unwrap();
    let out = resume(&a);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unusable settings") && stderr(&out).contains("batch 0"),
        "{}",
        stderr(&out)
    );

    // Run b's optimizer state (width 12) under run a's model (width 8): the same parameter
    // count and ids, other shapes.
    let mut foreign = state_a.clone();
    foreign["param_ids"] = read(&b)["param_ids"].clone();
    std::fs::write(a.join("state.json"), foreign.to_string()).unwrap();
    std::fs::copy(b.join("optimizer.bpk"), a.join("optimizer.bpk")).unwrap();
    let out = resume(&a);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("optimizer.bpk") && e.contains("has shape"),
        "{e}"
    );

    // Garbage in place of the optimizer state.
    std::fs::write(a.join("optimizer.bpk"), b"not a burnpack").unwrap();
    let out = resume(&a);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an optimizer state"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Ctrl-C (SIGINT) during training saves `last.flow` and `state.json` and exits with 130.
/// The signal goes once the run reports progress (a progress line or a finished epoch), not
/// after a fixed sleep, so neither a slow machine (not yet training) nor a fast one (already
/// done) changes what is tested; 10 000 epochs outlast any machine.
#[test]
fn interrupt_saves_the_run() {
    let _g = serial();
    let dir = tmp_dir("interrupt");
    let mut child = bin()
        .args(tiny_args(&dir, &["--epochs", "10000"]))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The header line is printed once the handler is installed and training starts.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    assert!(header.contains("parameters"), "{header}");
    let mut seen = vec![header];
    for line in lines.by_ref() {
        let line = line.unwrap();
        let training = line.contains("steps done") || line.starts_with("epoch 1:");
        seen.push(line);
        if training {
            break;
        }
    }
    assert!(
        seen.len() > 1,
        "no progress before the output ended: {seen:?}"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
    assert!(dir.join("last.flow").is_file() && dir.join("state.json").is_file());
    let (flow, _) = model_file::load(&dir.join("last.flow"), &flowplay::device::cpu()).unwrap();
    assert!(flow.num_params() > 0);
    std::fs::remove_dir_all(dir).ok();
}

/// The shipped models' metadata names no path of the machine they were trained on (run files
/// are named relative to their run directory), and every image model records its test score.
#[test]
fn shipped_models_carry_no_machine_paths() {
    fn strings<'a>(v: &'a serde_json::Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match v {
            serde_json::Value::String(s) => out.push((at, s)),
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    strings(x, format!("{at}[{i}]"), out);
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    strings(x, format!("{at}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/www/models");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "flow") {
            continue;
        }
        let meta = model_file::read_meta(&std::fs::read(&path).unwrap()).unwrap();
        let json = serde_json::to_value(&meta).unwrap();
        let mut found = Vec::new();
        strings(&json, String::new(), &mut found);
        for (at, s) in found {
            let machine = s.starts_with('/')
                || s.contains(":\\")
                || ["/tmp/", "/home/", "/root/", "/work/"]
                    .iter()
                    .any(|p| s.contains(p));
            assert!(!machine, "{}: {at} = {s:?}", path.display());
        }
        if meta.image.is_some() {
            let summary = meta.summary.as_ref().expect("image models keep a summary");
            assert!(
                summary["test_bpd"]
                    .as_f64()
                    .is_some_and(|b| b > 0.5 && b < 8.0),
                "{}: {summary}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "found {checked} shipped models");
}

/// `--max-minutes` ends the run at its deadline with an evaluated and tested model;
/// `--devices cpu,cpu` trains data-parallel; a batch that does not split evenly is refused.
#[test]
fn a_time_limit_ends_the_run_and_devices_split_the_batch() {
    let dir = tmp_dir("deadline");
    // 0.6 ms: the first step already overruns it (a tiny model's step takes ≈ 5 ms here; a
    // machine 40× faster would still stop within 5 steps of the 170 that 3 epochs take).
    let out = tiny_run(&dir, &["--max-minutes", "0.00001", "--epochs", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = last_json(&out);
    assert!(j["steps"].as_u64().is_some_and(|s| s <= 5), "{j}");
    assert_eq!(j["epochs"], 0, "the first epoch is unfinished: {j}");
    assert!(j["test_bpd"].as_f64().is_some_and(f64::is_finite), "{j}");
    assert!(dir.join("model.flow").is_file() && dir.join("state.json").is_file());
    assert!(stderr(&out).contains("out of time"), "{}", stderr(&out));

    // A lease: the whole command must end within 0.4 min (24 s). Evaluating 100 validation and
    // 50 test images and a grid takes well under a second here, so training stops ≈ 20 s
    // (the fixed margin) before the lease ends, out of time long before its 1000 epochs.
    let dir = tmp_dir("lease");
    let t0 = std::time::Instant::now();
    let out = tiny_run(&dir, &["--lease-minutes", "0.4", "--epochs", "1000"]);
    let secs = t0.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("lease: training stops in") && e.contains("out of time"),
        "{e}"
    );
    let j = last_json(&out);
    assert!(j["test_bpd"].as_f64().is_some_and(f64::is_finite), "{j}");
    assert!(
        j["steps"].as_u64().is_some_and(|s| s > 0 && s < 1000 * 56),
        "{j}"
    );
    println!(
        "FIGURE lease 24 s: the command took {secs:.1} s, {} steps",
        j["steps"]
    );
    // A lease shorter than the margin is refused before any step.
    let out = tiny_run(&tmp_dir("lease-short"), &["--lease-minutes", "0.2"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("leaves no time to train"),
        "{}",
        stderr(&out)
    );

    let dir = tmp_dir("two-devices");
    let out = tiny_run(&dir, &["--devices", "cpu,cpu", "--max-steps", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = last_json(&out);
    assert_eq!(j["device"], "cpu,cpu", "{j}");
    assert_eq!(j["steps"], 3, "{j}");
    assert!(
        j["best_val_bpd"].as_f64().is_some_and(f64::is_finite),
        "{j}"
    );

    let out = tiny_run(&tmp_dir("three-devices"), &["--devices", "cpu,cpu,cpu"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("batch of 16") && e.contains("3 devices"), "{e}");
    let out = tiny_run(&tmp_dir("bad-device"), &["--devices", "cpu,tpu"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown device 'tpu'"),
        "{}",
        stderr(&out)
    );
}

/// Data parallel on the image trainer: `k` = 2, 3, 4 CPU replicas, each batch of 12 split
/// over them, follow the plain single-device trainer (no replicas at all; `k` = 1 is that path)
/// step for step — losses, reconstruction terms and GECO's λ, and the parameters after 6
/// steps — for a Glow, a self-normalized CNN flow, and the same under GECO. The shards'
/// gradients are averaged in a different order than one batch's, so the figures agree to
/// float rounding carried through Adam (parameters measured ≤ 1.2·10⁻⁶ apart; held to 10⁻⁴).
#[test]
fn data_parallel_image_training_follows_the_single_device_trainer() {
    let _g = serial();
    let device = flowplay::device::cpu();
    let train_set = sample_split(Split::Train);
    let glow_config = glow(&spec(1, 1, 8, Mixer::Conv1x1Lu)).unwrap();
    let selfnorm = conv_flow(&spec(1, 1, 0, Mixer::SelfNorm { kernel: 3 })).unwrap();
    let plain = ImageTrainSettings {
        batch: 12,
        ..settings(2e-3)
    };
    let geco = ImageTrainSettings {
        geco: Some(GecoSettings {
            tolerance: 0.0,
            rate: 1e-2,
            momentum: 0.5,
        }),
        ..plain.clone()
    };
    let cases = [
        ("glow", &glow_config, &plain),
        ("self-normalized", &selfnorm, &plain),
        ("self-normalized + GECO", &selfnorm, &geco),
    ];
    for (name, config, s) in cases {
        let run = |k: usize| {
            let mut t = ImageTrainer::new(config, s.clone(), &train_set, &device).unwrap();
            if k > 1 {
                t = t.with_devices(&vec![device.clone(); k]).unwrap();
            }
            assert_eq!(t.device_count(), k);
            let mut trace = Vec::new();
            for step in 0..6 {
                let idx: Vec<usize> = (0..12).map(|i| step * 12 + i).collect();
                let out = t.train_step(&train_set, &idx).unwrap();
                assert!(
                    !out.rolled_back,
                    "{name}, {k} devices: step {step} rolled back"
                );
                trace.extend([out.loss_bpd, out.recon, out.lambda, t.lambda]);
            }
            (trace, param_values(&t.inference_model()).unwrap())
        };
        let (single_trace, single_params) = run(1);
        for k in 2..=4 {
            let (trace, params) = run(k);
            for (i, (a, b)) in single_trace.iter().zip(&trace).enumerate() {
                let tol = 1e-4 * a.abs().max(1.0);
                assert!(
                    (a - b).abs() <= tol,
                    "{name}, {k} devices: figure {i}: {a} vs {b}"
                );
            }
            let diff = single_params
                .iter()
                .zip(&params)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            eprintln!("{name}: {k} devices differ from one by {diff:.2e} in the parameters");
            assert!(diff < 1e-4, "{name}: {k} devices differ from one by {diff}");
        }
    }
}
