//! Property-based fuzzing (proptest) of every reader of outside input: `.flow` files (every
//! shipped model as a seed), the page's URL, IDX files and CIFAR-10 binary batches.
//!
//! Mutations: bit flips (half of them inside the safetensors header), truncations, splices,
//! inserted and appended random bytes, and structured edits of the metadata — any number of the
//! layer list set to an extreme value, a layer renamed to an unknown type, a tensor given a
//! wrong or huge shape or an unknown dtype, weights overwritten with NaN, and any node of the
//! metadata (image shape, data set, posterior, history, summary) replaced or removed. Pass: no
//! panic, every refusal carries a message, and a file that loads runs both ways without NaN.
//! (Refusing huge claims before allocating is what lets this run at all: an allocation abort
//! would end the process.)
//!
//! `FLOWPLAY_FUZZ_CASES` sets the cases per target (default 10 000, as `.ci/run` runs it; the
//! README gives the counts of such a run; 0 or a non-number is refused rather than running
//! nothing and passing). Each target prints its counts.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use flowplay::explore::gallery::ModelIndex;
use flowplay::images::{ImageSet, cifar, idx};
use flowplay::web::shell::url::PageConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

mod common;
use common::{header_len, join, load_and_run, numbers, shipped, shipped_names};

fn cases() -> u32 {
    match std::env::var("FLOWPLAY_FUZZ_CASES") {
        Err(_) => 10_000,
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => panic!("FLOWPLAY_FUZZ_CASES={v}: give a positive number of cases per target"),
        },
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Counts of one target, printed at the end: inputs accepted, refused with a message, and
/// panics caught (any panic also fails the target, so a passing run prints 0 — counted).
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    refused: AtomicUsize,
    panics: AtomicUsize,
}

impl Tally {
    fn print(&self, target: &str) {
        self.print_as(target, "accepted", "refused with a message");
    }
    fn print_as(&self, target: &str, accepted: &str, refused: &str) {
        let load = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        let (a, r, p) = (
            load(&self.accepted),
            load(&self.refused),
            load(&self.panics),
        );
        println!(
            "fuzz {target}: {} inputs, {a} {accepted}, {r} {refused}, {p} panics",
            a + r + p
        );
    }
    fn count(&self, accepted: bool) {
        let c = if accepted {
            &self.accepted
        } else {
            &self.refused
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a caught panic; returns the count so far.
    fn panicked(&self) -> usize {
        self.panics.fetch_add(1, Ordering::Relaxed) + 1
    }
}

// ---------- .flow files ----------

/// A byte-level or structural change; positions are fractions of the length they apply to.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: f64,
        in_header: bool,
        bit: u8,
    },
    Truncate {
        at: f64,
    },
    Splice {
        from: f64,
        to: f64,
        len: usize,
    },
    Insert {
        at: f64,
        bytes: Vec<u8>,
    },
    Number {
        which: usize,
        value: serde_json::Value,
    },
    UnknownLayer {
        which: usize,
        name: String,
    },
    TensorShape {
        which: usize,
        shape: Vec<u64>,
    },
    TensorDtype {
        which: usize,
        dtype: String,
    },
    NanWeights {
        at: f64,
        count: usize,
    },
    /// Any node of the metadata, not only the layer list's numbers (the image shape, the data
    /// set, a posterior's problem and method, the history, the summary): replaced by `value`,
    /// or removed from its object.
    Metadata {
        which: usize,
        remove: bool,
        value: serde_json::Value,
    },
}

/// JSON pointers of every node under `v` (objects, arrays and leaves).
fn nodes(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                nodes(x, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                nodes(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        _ => {}
    }
}

fn extreme_number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::json!(0)),
        Just(serde_json::json!(1)),
        Just(serde_json::json!(-1)),
        (0u32..64).prop_map(|k| serde_json::json!(1u64 << k)),
        any::<u64>().prop_map(|v| serde_json::json!(v)),
        (-1e12f64..1e12).prop_map(|v| serde_json::json!(v)),
        Just(serde_json::json!(1e308)),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64, any::<bool>(), 0u8..8).prop_map(|(at, in_header, bit)| Mutation::Flip {
            at,
            in_header,
            bit
        }),
        (0.0..1.0f64).prop_map(|at| Mutation::Truncate { at }),
        (0.0..1.0f64, 0.0..1.0f64, 1usize..4096).prop_map(|(from, to, len)| Mutation::Splice {
            from,
            to,
            len
        }),
        (0.0..1.0f64, prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), extreme_number())
            .prop_map(|(which, value)| Mutation::Number { which, value }),
        (any::<usize>(), "[a-z_]{1,12}")
            .prop_map(|(which, name)| Mutation::UnknownLayer { which, name }),
        (any::<usize>(), prop::collection::vec(any::<u64>(), 0..4))
            .prop_map(|(which, shape)| Mutation::TensorShape { which, shape }),
        (any::<usize>(), "[A-Z0-9]{1,5}")
            .prop_map(|(which, dtype)| Mutation::TensorDtype { which, dtype }),
        (0.0..1.0f64, 1usize..64).prop_map(|(at, count)| Mutation::NanWeights { at, count }),
        (
            any::<usize>(),
            any::<bool>(),
            prop_oneof![
                extreme_number(),
                Just(serde_json::Value::Null),
                Just(serde_json::json!("no-such-thing")),
                Just(serde_json::json!([])),
                Just(serde_json::json!({})),
                Just(serde_json::json!(true)),
            ],
        )
            .prop_map(|(which, remove, value)| Mutation::Metadata {
                which,
                remove,
                value
            }),
    ]
}

fn pos(at: f64, len: usize) -> usize {
    ((at * len as f64) as usize).min(len.saturating_sub(1))
}

/// Applies `m` to a well-formed file (structural edits need a parseable header; on a file
/// already damaged past that they change nothing).
fn apply(bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let mut b = bytes;
    let structured = |b: &[u8], edit: &mut dyn FnMut(&mut serde_json::Value, &mut Vec<u8>)| {
        if b.len() < 8 || header_len(b) > b.len() - 8 {
            return None;
        }
        let n = header_len(b);
        let mut header: serde_json::Value = serde_json::from_slice(&b[8..8 + n]).ok()?;
        // Edits index into the header and its metadata as objects; a header that a bit flip
        // turned into another JSON value is left to the byte-level mutations.
        if !header.is_object() || !header["__metadata__"].is_object() {
            return None;
        }
        let mut data = b[8 + n..].to_vec();
        edit(&mut header, &mut data);
        Some(join(&header, &data))
    };
    let tensor_names = |h: &serde_json::Value| -> Vec<String> {
        h.as_object()
            .map(|o| o.keys().filter(|k| *k != "__metadata__").cloned().collect())
            .unwrap_or_default()
    };
    match m {
        Mutation::Flip { at, in_header, bit } => {
            let len = if *in_header && b.len() >= 8 {
                (header_len(&b) + 8).min(b.len())
            } else {
                b.len()
            };
            if len > 0 {
                let p = pos(*at, len);
                b[p] ^= 1 << bit;
            }
            b
        }
        Mutation::Truncate { at } => {
            let p = pos(*at, b.len());
            b.truncate(p);
            b
        }
        Mutation::Splice { from, to, len } => {
            if b.is_empty() {
                return b;
            }
            let (f, t) = (pos(*from, b.len()), pos(*to, b.len()));
            let chunk: Vec<u8> = b[f..(f + len).min(b.len())].to_vec();
            let end = (t + chunk.len()).min(b.len());
            b[t..end].copy_from_slice(&chunk[..end - t]);
            b
        }
        Mutation::Insert { at, bytes } => {
            let p = pos(*at, b.len() + 1);
            b.splice(p..p, bytes.iter().copied());
            b
        }
        Mutation::Number { which, value } => structured(&b, &mut |h, _| {
            let Some(meta) = h["__metadata__"]["flowplay"].as_str() else {
                return;
            };
            let Ok(mut meta) = serde_json::from_str::<serde_json::Value>(meta) else {
                return;
            };
            let mut ptrs = Vec::new();
            numbers(&meta["config"], "/config".into(), &mut ptrs);
            if let Some(p) = ptrs.get(which % ptrs.len().max(1)) {
                *meta.pointer_mut(p).unwrap() = value.clone();
            }
            h["__metadata__"]["flowplay"] = meta.to_string().into();
        })
        .unwrap_or(b),
        Mutation::UnknownLayer { which, name } => structured(&b, &mut |h, _| {
            let Some(meta) = h["__metadata__"]["flowplay"].as_str() else {
                return;
            };
            let Ok(mut meta) = serde_json::from_str::<serde_json::Value>(meta) else {
                return;
            };
            if let Some(layers) = meta
                .pointer_mut("/config/layers")
                .and_then(|l| l.as_array_mut())
                && !layers.is_empty()
            {
                let k = which % layers.len();
                // A metadata edit may have made the layer a number: only an object is renamed.
                if let Some(layer) = layers[k].as_object_mut() {
                    layer.insert("type".into(), name.clone().into());
                }
            }
            h["__metadata__"]["flowplay"] = meta.to_string().into();
        })
        .unwrap_or(b),
        Mutation::TensorShape { which, shape } => structured(&b, &mut |h, _| {
            let names = tensor_names(h);
            if let Some(entry) = names
                .get(which % names.len().max(1))
                .and_then(|n| h.get_mut(n))
                .and_then(|e| e.as_object_mut())
            {
                entry.insert("shape".into(), serde_json::json!(shape));
            }
        })
        .unwrap_or(b),
        Mutation::TensorDtype { which, dtype } => structured(&b, &mut |h, _| {
            let names = tensor_names(h);
            if let Some(entry) = names
                .get(which % names.len().max(1))
                .and_then(|n| h.get_mut(n))
                .and_then(|e| e.as_object_mut())
            {
                entry.insert("dtype".into(), dtype.clone().into());
            }
        })
        .unwrap_or(b),
        Mutation::Metadata {
            which,
            remove,
            value,
        } => structured(&b, &mut |h, _| {
            let Some(meta) = h["__metadata__"]["flowplay"].as_str() else {
                return;
            };
            let Ok(mut meta) = serde_json::from_str::<serde_json::Value>(meta) else {
                return;
            };
            let mut ptrs = Vec::new();
            nodes(&meta, String::new(), &mut ptrs);
            let p = &ptrs[which % ptrs.len()];
            let (parent, key) = p.rsplit_once('/').unwrap_or(("", ""));
            match meta.pointer_mut(parent) {
                Some(serde_json::Value::Object(o)) if *remove && !p.is_empty() => {
                    o.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                _ => {
                    if let Some(node) = meta.pointer_mut(p) {
                        *node = value.clone();
                    }
                }
            }
            h["__metadata__"]["flowplay"] = meta.to_string().into();
        })
        .unwrap_or(b),
        Mutation::NanWeights { at, count } => structured(&b, &mut |_, data| {
            if data.len() >= 4 {
                let start = pos(*at, data.len() / 4) * 4;
                for k in 0..*count {
                    let i = start + 4 * k;
                    if i + 4 <= data.len() {
                        data[i..i + 4].copy_from_slice(&f32::NAN.to_le_bytes());
                    }
                }
            }
        })
        .unwrap_or(b),
    }
}

#[test]
fn fuzz_the_flow_loader() {
    let names = shipped_names();
    // Every model the page lists is fuzzed: the folder's files are the index's.
    let index: ModelIndex = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/www/models/index.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let mut indexed: Vec<&str> = index.models.iter().map(|m| m.file.as_str()).collect();
    indexed.sort();
    assert_eq!(
        names, indexed,
        "the shipped models against www/models/index.json"
    );
    let seeds: Vec<Vec<u8>> = names.iter().map(|s| shipped(s)).collect();
    let tally = Tally::default();
    // The 2.6 M-parameter GPU model takes a few hundred ms to build when a mutation leaves it
    // loadable, so it is drawn a sixteenth as often as each of the others.
    let weighted: Vec<(u32, usize)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (if n == "mnist-glow-gpu.flow" { 1 } else { 16 }, i))
        .collect();
    let seed = prop::strategy::Union::new_weighted(
        weighted
            .into_iter()
            .map(|(w, i)| (w, Just(i).boxed()))
            .collect(),
    );
    let per_seed: Vec<AtomicUsize> = names.iter().map(|_| AtomicUsize::new(0)).collect();
    runner()
        .run(
            &(seed, prop::collection::vec(mutation(), 1..4)),
            |(seed, mutations)| {
                per_seed[seed].fetch_add(1, Ordering::Relaxed);
                let bytes = mutations.iter().fold(seeds[seed].clone(), apply);
                let outcome = catch_unwind(AssertUnwindSafe(|| load_and_run(bytes)));
                match outcome {
                    Ok(Ok(finite)) => {
                        prop_assert!(
                            finite,
                            "{} loaded with {mutations:?} gives NaN",
                            names[seed]
                        );
                        tally.count(true)
                    }
                    Ok(Err(msg)) => {
                        prop_assert!(!msg.trim().is_empty(), "a refusal without a message");
                        tally.count(false);
                    }
                    Err(_) => {
                        let n = tally.panicked();
                        prop_assert!(false, "panic {n} on {} with {mutations:?}", names[seed]);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    tally.print(".flow loader");
    for (name, n) in names.iter().zip(&per_seed) {
        println!("  {name}: {} mutated copies", n.load(Ordering::Relaxed));
    }
}

// ---------- the page's URL ----------

/// Every key `PageConfig::from_url_parts` reads (a test below keeps this list complete).
const KEYS: [&str; 28] = [
    "target",
    "flow",
    "layers",
    "hidden",
    "lr",
    "batch",
    "backend",
    "seed",
    "steps",
    "autostart",
    "embed",
    "view",
    "model",
    "temperature",
    "a",
    "b",
    "to",
    "alpha",
    "limit",
    "score",
    "problem",
    "y",
    "samples",
    "energies",
    "lengths",
    "objective",
    "figure",
    "flows",
];

/// Values the keys take by name.
const NAMES: [&str; 22] = [
    "moons",
    "u1",
    "realnvp",
    "nsf-ar",
    "cpu",
    "webgpu",
    "auto",
    "samples",
    "interpolate",
    "arithmetic",
    "anomaly",
    "classify",
    "inverse",
    "raw",
    "complexity",
    "ring",
    "papers",
    "u3",
    "regression",
    "cnf",
    "flow-matching",
    "families",
];

/// Each key in [`KEYS`] changes the configuration the page reads (so a key the parser gains
/// without joining the fuzzed list fails here only if the list is edited, and a key the
/// parser drops fails at once).
#[test]
fn every_fuzzed_url_key_is_read() {
    let (default, _) = PageConfig::from_url_parts("", "");
    let probes: [(&str, &str); 28] = [
        ("target", "u1"),
        ("flow", "maf"),
        ("layers", "3"),
        ("hidden", "17"),
        ("lr", "0.01"),
        ("batch", "64"),
        ("backend", "cpu"),
        ("seed", "9"),
        ("steps", "5"),
        ("autostart", "1"),
        ("embed", "1"),
        ("view", "anomaly"),
        ("model", "fashion-mnist-glow-small"),
        ("temperature", "0.5"),
        ("a", "3"),
        ("b", "4"),
        ("to", "2"),
        ("alpha", "0.5"),
        ("limit", "50"),
        ("score", "raw"),
        ("problem", "ring"),
        ("y", "0.5,1.5"),
        ("samples", "1000"),
        ("energies", "u2,u4"),
        ("lengths", "4,16"),
        ("objective", "regression"),
        ("figure", "families"),
        ("flows", "nsf,cnf"),
    ];
    for ((key, value), listed) in probes.iter().zip(KEYS) {
        assert_eq!(*key, listed);
        let (c, notices) = PageConfig::from_url_parts("", &format!("{key}={value}"));
        assert!(notices.is_empty(), "{key}={value}: {notices:?}");
        assert_ne!(c, default, "{key}={value} changed nothing");
    }
}

#[test]
fn fuzz_the_url_parser() {
    let tally = Tally::default();
    // Every key the page reads: the playground's, the image views' and the inverse problems'.
    let known = prop::sample::select(KEYS.to_vec()).prop_map(String::from);
    let key = prop_oneof![3 => known, 1 => "[a-z]{1,8}"];
    // Values: free text, numbers near and beyond the limits, comma lists (the observation `y`).
    let number = prop_oneof![
        any::<f64>().prop_map(|v| v.to_string()),
        (-20i64..20_000).prop_map(|v| v.to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("1e400".to_string()),
    ];
    let list = prop::collection::vec(number.clone(), 0..5).prop_map(|v| v.join(","));
    let value = prop_oneof![
        2 => "[-+.,%=&#?a-zA-Z0-9éß\u{0}]{0,16}",
        1 => number,
        1 => list,
        1 => prop::sample::select(NAMES.to_vec()).prop_map(String::from),
    ];
    let pair = (key, value).prop_map(|(k, v)| format!("{k}={v}"));
    let url = prop::collection::vec(pair, 0..8).prop_map(|p| p.join("&"));
    runner()
        .run(
            &(url.clone(), url, any::<String>()),
            |(query, fragment, noise)| {
                for (q, f) in [(&query, &fragment), (&noise, &fragment), (&query, &noise)] {
                    let parsed = catch_unwind(|| PageConfig::from_url_parts(q, f));
                    prop_assert!(parsed.is_ok(), "panic on ?{q}#{f}");
                    let (c, notices) = parsed.unwrap();
                    prop_assert!(c.lr.is_finite() && c.lr > 0.0);
                    prop_assert!(notices.iter().all(|n| !n.is_empty()));
                    // What the page writes back is read back the same (`embed` belongs to the embed
                    // snippet, not to the fragment the page keeps).
                    let (again, more) = PageConfig::from_url_parts("", &c.to_fragment());
                    prop_assert!(more.is_empty(), "{more:?}");
                    prop_assert_eq!(again, PageConfig { embed: false, ..c });
                    tally.count(notices.is_empty());
                }
                Ok(())
            },
        )
        .unwrap();
    tally.print_as(
        "URL parser",
        "taken whole",
        "with a parameter ignored and a notice",
    );
}

// ---------- IDX and CIFAR-10 ----------

fn idx_seed() -> Vec<u8> {
    let path = format!(
        "{}/www/data/mnist-sample/t10k-images-idx3-ubyte.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = idx::read_maybe_gz(std::path::Path::new(&path)).unwrap();
    // The first 20 images keep each case cheap.
    let mut head = bytes[..16].to_vec();
    head[4..8].copy_from_slice(&20u32.to_be_bytes());
    head.extend_from_slice(&bytes[16..16 + 20 * 784]);
    head
}

#[test]
fn fuzz_the_idx_reader() {
    let seed = idx_seed();
    assert!(idx::parse_u8(&seed, "seed").is_ok());
    let tally = Tally::default();
    let bytes = prop_oneof![
        3 => prop::collection::vec(mutation(), 1..4)
            .prop_map(move |ms| ms.iter().fold(seed.clone(), apply)),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (any::<u8>(), prop::collection::vec(any::<u32>(), 0..6)).prop_map(|(n, dims)| {
            let mut b = vec![0, 0, 8, n];
            for d in dims {
                b.extend_from_slice(&d.to_be_bytes());
            }
            b
        }),
    ];
    runner()
        .run(&bytes, |b| {
            let r = catch_unwind(|| idx::parse_u8(&b, "fuzz"));
            prop_assert!(r.is_ok(), "panic on {} bytes", b.len());
            match r.unwrap() {
                Ok((dims, data)) => {
                    prop_assert_eq!(dims.iter().product::<usize>(), data.len());
                    tally.count(true);
                }
                Err(msg) => {
                    prop_assert!(!msg.is_empty());
                    tally.count(false);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.print("IDX reader");
}

#[test]
fn fuzz_the_cifar_reader() {
    let tally = Tally::default();
    let mut seed = Vec::new();
    for k in 0..3u8 {
        seed.push(k);
        seed.extend((0..3072).map(|i| (i % 251) as u8 ^ k));
    }
    let bytes = prop_oneof![
        3 => prop::collection::vec(mutation(), 1..4)
            .prop_map(move |ms| ms.iter().fold(seed.clone(), apply)),
        1 => prop::collection::vec(any::<u8>(), 0..8000),
    ];
    runner()
        .run(&bytes, |b| {
            let mut set = ImageSet {
                shape: flowplay::flows::image::ImageShape::new(3, 32, 32),
                pixels: Vec::new(),
                labels: Vec::new(),
            };
            let r = catch_unwind(AssertUnwindSafe(|| cifar::append_records(&b, &mut set)));
            prop_assert!(r.is_ok(), "panic on {} bytes", b.len());
            match r.unwrap() {
                Ok(()) => {
                    prop_assert_eq!(set.pixels.len(), set.labels.len() * 3072);
                    prop_assert_eq!(set.labels.len() * 3073, b.len());
                    tally.count(true);
                }
                Err(msg) => {
                    prop_assert!(!msg.is_empty());
                    tally.count(false);
                }
            }
            Ok(())
        })
        .unwrap();
    tally.print("CIFAR-10 reader");
}

// ---------- a run's saved state, the gallery index, rows on stdin ----------

/// A real `optimizer.bpk`: Adam's state after one step of a small RealNVP, with the model's
/// parameter shapes.
fn optimizer_seed() -> (Vec<u8>, Vec<(u64, Vec<usize>)>) {
    use flowplay::flows::{FlowKind, FlowSpec};
    use flowplay::train::optim::{GuardedAdam, trainable_on};
    let cpu = flowplay::device::cpu();
    let config = FlowSpec::new(FlowKind::Realnvp, 2)
        .with_layers(2)
        .with_hidden(8)
        .config();
    let model = trainable_on(config.init(&cpu), &cpu.clone().autodiff());
    let mut optim = GuardedAdam::new(None, 5, &model);
    let x = burn::tensor::Tensor::<2>::ones([4, 2], &cpu.autodiff());
    let model = optim.update(model.clone(), model.log_prob(x).mean().neg(), 0.01);
    let bytes = optim.to_record().into_bytes().expect("serialises");
    (
        bytes.to_vec(),
        flowplay::train::params::param_shapes(&model),
    )
}

/// Byte-level mutations of any seed: flips, cuts, splices, inserted bytes.
fn mutate_bytes(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    mutations
        .iter()
        .filter(|m| {
            matches!(
                m,
                Mutation::Flip { .. }
                    | Mutation::Truncate { .. }
                    | Mutation::Splice { .. }
                    | Mutation::Insert { .. }
            )
        })
        .fold(seed.to_vec(), apply)
}

/// `state.json` (what `--resume` reads), `optimizer.bpk` (checked against the model's shapes
/// before Adam sees it), `index.json` (the page's gallery) and rows of numbers on stdin
/// (`log-prob`): mutated copies of real ones are read back as a value or a message.
#[test]
fn fuzz_the_run_state_index_and_row_readers() {
    let presets = flowplay::presets::all();
    let state = serde_json::json!({
        "preset": presets[0], "epoch": 1, "step": 6, "best_val_bpd": 1.5, "lambda": 1.0,
        "seconds": 3.0, "param_ids": [1, 2, 3],
    })
    .to_string();
    assert!(flowplay::cli::train::parse_state(&state).is_ok());
    let (optimizer, shapes) = optimizer_seed();
    assert_eq!(
        flowplay::cli::train::check_optimizer_state(&optimizer, &shapes),
        Ok(())
    );
    let index = std::fs::read_to_string("www/models/index.json").unwrap();
    let rows = "0.5, 1.5\n-1 2\n\n3e-2,4\n".to_string();
    let tallies: [Tally; 4] = Default::default();
    let which = 0usize..4;
    runner()
        .run(
            &(which, prop::collection::vec(mutation(), 1..4)),
            |(which, mutations)| {
                let seed: &[u8] = match which {
                    0 => state.as_bytes(),
                    1 => &optimizer,
                    2 => index.as_bytes(),
                    _ => rows.as_bytes(),
                };
                let bytes = mutate_bytes(seed, &mutations);
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let outcome = catch_unwind(AssertUnwindSafe(|| match which {
                    0 => flowplay::cli::train::parse_state(&text).map(|_| ()),
                    1 => flowplay::cli::train::check_optimizer_state(&bytes, &shapes),
                    2 => serde_json::from_str::<flowplay::explore::gallery::ModelIndex>(&text)
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    _ => flowplay::cli::io::parse_rows(&bytes[..], 2).map(|v| {
                        assert!(v.iter().all(|x| x.is_finite()), "rows with {v:?}");
                    }),
                }));
                match outcome {
                    Ok(Ok(())) => tallies[which].count(true),
                    Ok(Err(msg)) => {
                        prop_assert!(!msg.trim().is_empty(), "a refusal without a message");
                        tallies[which].count(false);
                    }
                    Err(_) => {
                        let n = tallies[which].panicked();
                        prop_assert!(false, "panic {n} on reader {which} with {mutations:?}");
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    for (t, name) in tallies
        .iter()
        .zip(["state.json", "optimizer.bpk", "index.json", "stdin rows"])
    {
        t.print(name);
    }
}
