//! Property-based fuzzing (proptest) of every reader of outside input: `.flow` files (every
//! shipped model as a seed), the page's URL, IDX files and CIFAR-10 binary batches.
//!
//! Mutations: bit flips (half of them inside the safetensors header), truncations, splices,
//! inserted and appended random bytes, and structured edits of the metadata — any number of the
//! layer list set to an extreme value, a layer renamed to an unknown type, a tensor given a
//! wrong or huge shape or an unknown dtype, weights overwritten with NaN. Pass: no panic, every
//! refusal carries a message, and a file that loads runs both ways. (Refusing huge claims before
//! allocating is what lets this run at all: an allocation abort would end the process.)
//!
//! `FLOWPLAY_FUZZ_CASES` sets the cases per target (default 10 000, as `.ci/run` runs it; the
//! README gives the counts of a 100 000-case run). Each target prints its counts.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use flowplay::images::{ImageSet, cifar, idx};
use flowplay::web::config::PageConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

mod common;
use common::{header_len, join, load_and_run, numbers, shipped};

fn cases() -> u32 {
    std::env::var("FLOWPLAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Counts of one target, printed at the end.
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    refused: AtomicUsize,
}

impl Tally {
    fn print(&self, target: &str) {
        self.print_as(target, "accepted", "refused with a message");
    }
    fn print_as(&self, target: &str, accepted: &str, refused: &str) {
        let (a, r) = (
            self.accepted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        );
        println!(
            "fuzz {target}: {} inputs, {a} {accepted}, {r} {refused}, 0 panics",
            a + r
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
}

// ---------- .flow files ----------

const SEEDS: [&str; 4] = [
    "moons-realnvp.flow",
    "mnist-glow-small.flow",
    "fashion-mnist-glow-small.flow",
    "mnist-glow-gpu.flow",
];

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
            if let Some(layers) = meta["config"]["layers"].as_array_mut()
                && !layers.is_empty()
            {
                let k = which % layers.len();
                layers[k]["type"] = name.clone().into();
            }
            h["__metadata__"]["flowplay"] = meta.to_string().into();
        })
        .unwrap_or(b),
        Mutation::TensorShape { which, shape } => structured(&b, &mut |h, _| {
            let names = tensor_names(h);
            if let Some(n) = names.get(which % names.len().max(1)) {
                h[n]["shape"] = serde_json::json!(shape);
            }
        })
        .unwrap_or(b),
        Mutation::TensorDtype { which, dtype } => structured(&b, &mut |h, _| {
            let names = tensor_names(h);
            if let Some(n) = names.get(which % names.len().max(1)) {
                h[n]["dtype"] = dtype.clone().into();
            }
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
    let seeds: Vec<Vec<u8>> = SEEDS.iter().map(|s| shipped(s)).collect();
    let tally = Tally::default();
    // The 2.6 M-parameter GPU model takes a few hundred ms to build when a mutation leaves it
    // loadable, so it is one seed in fifty; the small models share the rest.
    let seed = prop_oneof![
        16 => Just(0usize),
        16 => Just(1usize),
        16 => Just(2usize),
        1 => Just(3usize),
    ];
    runner()
        .run(
            &(seed, prop::collection::vec(mutation(), 1..4)),
            |(seed, mutations)| {
                let bytes = mutations.iter().fold(seeds[seed].clone(), apply);
                let outcome = catch_unwind(AssertUnwindSafe(|| load_and_run(bytes)));
                match outcome {
                    Ok(Ok(())) => tally.count(true),
                    Ok(Err(msg)) => {
                        prop_assert!(!msg.trim().is_empty(), "a refusal without a message");
                        tally.count(false);
                    }
                    Err(_) => {
                        prop_assert!(false, "panic on {} with {mutations:?}", SEEDS[seed]);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    tally.print(".flow loader");
}

// ---------- the page's URL ----------

#[test]
fn fuzz_the_url_parser() {
    let tally = Tally::default();
    let known = prop::sample::select(vec![
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
    ])
    .prop_map(String::from);
    let key = prop_oneof![3 => known, 1 => "[a-z]{1,8}"];
    let pair = (key, "[-+.%=&#?a-zA-Z0-9éß\u{0}]{0,16}").prop_map(|(k, v)| format!("{k}={v}"));
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
