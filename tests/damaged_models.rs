//! Damaged copies of the shipped models load as a named error or as a working model, never as a
//! panic: every number of the layer list set to values a bit flip or a careless edit produces,
//! bytes of the header flipped, the file cut short.

use std::panic::{AssertUnwindSafe, catch_unwind};

use flowplay::model_file;

mod common;
use common::{join, load_and_run, numbers, shipped, split};

/// Loads `bytes` and, if that works, runs the flow both ways on two rows; a panic or a NaN
/// output fails the test with `what`. Returns whether the file loaded.
fn loads_without_panic(bytes: Vec<u8>, what: &str) -> bool {
    match catch_unwind(AssertUnwindSafe(|| load_and_run(bytes))) {
        Ok(Ok(finite)) => {
            assert!(finite, "{what} loaded but gives NaN");
            true
        }
        Ok(Err(message)) => {
            assert!(!message.is_empty(), "{what}: a refusal without a message");
            false
        }
        Err(_) => panic!("{what} panicked instead of returning an error"),
    }
}

#[test]
fn every_number_of_the_layer_list_damaged_is_an_error_or_a_working_model() {
    for name in ["moons-realnvp.flow", "mnist-glow-small.flow"] {
        let bytes = shipped(name);
        let (header, data) = split(&bytes);
        let meta: serde_json::Value =
            serde_json::from_str(header["__metadata__"]["flowplay"].as_str().unwrap()).unwrap();
        let mut pointers = Vec::new();
        numbers(&meta["config"], "/config".into(), &mut pointers);
        assert!(pointers.len() > 5, "{name}: {} numbers", pointers.len());
        let bad: [serde_json::Value; 9] = [
            0.into(),
            1.into(),
            2.into(),
            3.into(),
            7.into(),
            (-1).into(),
            0.5.into(),
            1_000_000_000u64.into(),
            (1u64 << 62).into(),
        ];
        let (mut loaded, mut refused) = (0, 0);
        for pointer in &pointers {
            for value in &bad {
                let mut m = meta.clone();
                *m.pointer_mut(pointer).unwrap() = value.clone();
                let mut h = header.clone();
                h["__metadata__"]["flowplay"] = m.to_string().into();
                let what = format!("{name} with {pointer} = {value}");
                if loads_without_panic(join(&h, data), &what) {
                    loaded += 1;
                } else {
                    refused += 1;
                }
            }
        }
        assert!(
            refused > loaded / 4,
            "{name}: {refused} refused, {loaded} loaded"
        );
    }
}

#[test]
fn flipped_header_bytes_and_truncation_are_errors_or_working_models() {
    let bytes = shipped("mnist-glow-small.flow");
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize + 8;
    for (k, pos) in (0..n).step_by(n / 150).enumerate() {
        for flip in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[pos] ^= flip;
            loads_without_panic(b, &format!("byte {pos} ^ {flip:#x} (case {k})"));
        }
    }
    for cut in [0, 7, 8, 100, n - 1, n, n + 1000, bytes.len() - 1] {
        assert!(
            !loads_without_panic(bytes[..cut].to_vec(), &format!("cut at {cut}")),
            "a file cut at byte {cut} loaded"
        );
    }
}

/// A width that is plausible on its own (4096 is within every layer's limits) but far beyond
/// the weights the file carries is refused before anything is allocated, with the sizes named.
#[test]
fn a_layer_list_that_outgrows_its_file_is_refused_before_building() {
    let bytes = shipped("mnist-glow-small.flow");
    let (header, data) = split(&bytes);
    let mut meta: serde_json::Value =
        serde_json::from_str(header["__metadata__"]["flowplay"].as_str().unwrap()).unwrap();
    let layers = meta["config"]["layers"].as_array_mut().unwrap();
    let coupling = layers
        .iter_mut()
        .find(|l| l["type"] == "glow_coupling")
        .expect("a Glow coupling");
    coupling["hidden"] = 4096.into();
    let mut h = header.clone();
    h["__metadata__"]["flowplay"] = meta.to_string().into();
    let err =
        model_file::from_bytes(join(&h, data), &flowplay::device::cpu()).expect_err("refused");
    let e = err.to_string();
    assert!(
        e.contains("would need about") && e.contains("51260 weights"),
        "{e}"
    );
}

/// A tensor entry claiming an absurd shape (10¹² elements and more) is refused from the header
/// alone, without reading or allocating its data.
#[test]
fn a_header_claiming_huge_tensors_is_refused() {
    let bytes = shipped("moons-realnvp.flow");
    let (header, data) = split(&bytes);
    for shape in [
        serde_json::json!([1_000_000, 1_000_000]),
        serde_json::json!([1u64 << 40, 1u64 << 40]),
    ] {
        let mut h = header.clone();
        let name = h
            .as_object()
            .unwrap()
            .keys()
            .find(|k| *k != "__metadata__")
            .unwrap()
            .clone();
        h[&name]["shape"] = shape.clone();
        let err =
            model_file::from_bytes(join(&h, data), &flowplay::device::cpu()).expect_err("refused");
        assert!(err.to_string().contains(&name), "{shape}: {err}");
    }
}

/// A weight set to NaN or ±∞ (training never saves one) is refused by name, not loaded into a
/// model that then draws NaN: every F32 tensor of a shipped model, one value at a time.
#[test]
fn a_non_finite_weight_is_refused_and_named() {
    let bytes = shipped("moons-realnvp.flow");
    let (header, data) = split(&bytes);
    let tensors: Vec<(String, usize)> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, e)| e["dtype"] == "F32")
        .map(|(name, e)| {
            (
                name.clone(),
                e["data_offsets"][0].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert!(tensors.len() > 5, "{} F32 tensors", tensors.len());
    for (name, start) in &tensors {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut damaged = data.to_vec();
            damaged[*start..start + 4].copy_from_slice(&bad.to_le_bytes());
            let err = model_file::from_bytes(join(&header, &damaged), &flowplay::device::cpu())
                .err()
                .unwrap_or_else(|| panic!("{name} = {bad} loaded"))
                .to_string();
            assert!(
                err.contains(name.as_str()) && err.contains("NaN or infinite"),
                "{name} = {bad}: {err}"
            );
        }
    }
}
