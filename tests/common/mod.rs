//! Helpers the integration tests share: the shipped model files and their safetensors layout,
//! and running the `flowplay` binary with input on stdin. (Each test crate uses some of them.)
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// `flowplay ARGS` with `stdin` written to its standard input; its output once it exits.
pub fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowplay"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The bytes of a shipped model in `www/models/`.
pub fn shipped(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/www/models/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The safetensors header length (the first 8 bytes, little-endian).
pub fn header_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

/// `(header JSON, tensor bytes)` of a safetensors file.
pub fn split(bytes: &[u8]) -> (serde_json::Value, &[u8]) {
    let n = header_len(bytes);
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        &bytes[8 + n..],
    )
}

/// A safetensors file with `header` and `data`.
pub fn join(header: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(header).unwrap();
    h.resize(h.len().div_ceil(8) * 8, b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

/// JSON pointers of every number under `v`.
pub fn numbers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Number(_) => out.push(at),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                numbers(x, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                numbers(x, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Loads `.flow` bytes on the CPU and, if that works, runs the flow both ways on two rows (with
/// a zero context for a conditional flow); `Err` carries the loader's message. A model that
/// loads must give numbers, not NaN: `Ok(false)` says it did not. A panic inside is the
/// caller's to catch.
pub fn load_and_run(bytes: Vec<u8>) -> Result<bool, String> {
    use burn::tensor::Tensor;
    let device = flowplay::device::cpu();
    let (flow, _) = flowplay::model_file::from_bytes(bytes, &device).map_err(|e| e.to_string())?;
    let x = Tensor::<2>::zeros([2, flow.dim()], &device).add_scalar(0.3);
    let c = (flow.context() > 0).then(|| Tensor::<2>::zeros([2, flow.context()], &device));
    let lp = flow.log_prob_given(x.clone(), c.as_ref());
    let (back, _) = flow.inverse_given(x, c.as_ref());
    let values: Vec<f32> = [lp.reshape([2]), back.flatten::<1>(0, 1)]
        .into_iter()
        .flat_map(|t| flowplay::readback::to_host(t).expect("f32 values"))
        .collect();
    Ok(!values.iter().any(|v| v.is_nan()))
}

/// Every shipped model's file name (`www/models/*.flow`), sorted.
pub fn shipped_names() -> Vec<String> {
    let dir = format!("{}/www/models", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".flow"))
        .collect();
    names.sort();
    names
}
