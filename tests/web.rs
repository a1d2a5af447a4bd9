//! Component tests in headless Chromium (wasm-bindgen-test; run by `.ci/run`, stage test-wasm):
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --no-default-features --test web`
#![cfg(target_arch = "wasm32")]

use flowplay::flows::FlowKind;
use flowplay::web::config::{BackendPref, PageConfig};
use flowplay::web::session::{GRID_RES, LIVE_GRID_BUDGET_MS, MIN_GRID_RES, Session, live_grid_res};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn url_contract_parses_in_the_browser() {
    flowplay::web::ensure_ctors();
    let (c, notices) =
        PageConfig::from_url_parts("?embed=1", "#flow=maf&backend=cpu&steps=5&bogus=1");
    assert_eq!(c.flow, FlowKind::Maf);
    assert_eq!(c.backend, BackendPref::Cpu);
    assert!(c.embed);
    assert_eq!(notices.len(), 1);
}

#[wasm_bindgen_test]
async fn a_cpu_session_trains_and_snapshots() {
    flowplay::web::ensure_ctors();
    let (cfg, _) = PageConfig::from_url_parts(
        "",
        "#flow=realnvp&layers=2&hidden=16&backend=cpu&steps=60&lr=0.005",
    );
    let mut s = Session::new(&cfg, burn::tensor::Device::flex(), None).unwrap();
    s.run(60).await.unwrap();
    assert!(s.done());
    let first = s.trainer.history.first_val_nll().unwrap();
    let last = s.last_val_nll.unwrap();
    assert!(last < first, "validation NLL {first} -> {last}");
    let snap = s.snapshot(GRID_RES).await.unwrap();
    assert_eq!(snap.grid.len(), GRID_RES * GRID_RES);
    assert!(snap.grid.iter().all(|v| v.is_finite()));
    // The live grid: as many points as fit the budget at the measured rate, within bounds.
    let live = live_grid_res(snap.res, snap.grid_ms);
    assert!((MIN_GRID_RES..=GRID_RES).contains(&live) && live % 8 == 0);
    assert_eq!(live_grid_res(64, LIVE_GRID_BUDGET_MS), 64);
    assert_eq!(
        live_grid_res(128, 100.0 * LIVE_GRID_BUDGET_MS),
        MIN_GRID_RES
    );
    assert_eq!(live_grid_res(48, 0.01), GRID_RES);
    let coarse = s.snapshot(live).await.unwrap();
    assert_eq!(coarse.grid.len(), live * live);
    assert!(
        snap.inversion_error < 1e-3,
        "inversion error {}",
        snap.inversion_error
    );
}

#[wasm_bindgen_test]
async fn webgpu_or_its_absence_is_explained() {
    flowplay::web::ensure_ctors();
    // The rule, checked against whatever adapter this browser offers: none or a software one
    // (headless Chromium's SwiftShader) → the CPU with the reason; a real one → WebGPU (or the
    // CPU with the initialisation error named).
    let info = flowplay::web::backend::adapter_info().await;
    let chosen = flowplay::web::backend::choose(BackendPref::Auto).await;
    assert!(!chosen.reason.is_empty());
    match &info {
        None => {
            assert_eq!(chosen.name, "cpu");
            assert!(
                chosen.reason.contains("no WebGPU adapter"),
                "{}",
                chosen.reason
            );
        }
        Some(adapter) if adapter.is_software() => {
            assert_eq!(chosen.name, "cpu");
            assert!(chosen.reason.contains("software"), "{}", chosen.reason);
        }
        Some(_) => assert!(
            chosen.name == "webgpu" || chosen.reason.contains("initialisation failed"),
            "a real adapter, yet {}: {}",
            chosen.name,
            chosen.reason
        ),
    }
}
