//! Component tests in headless Chromium (wasm-bindgen-test; run by `.ci/run`, stage test-wasm):
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown --no-default-features --features page-webgpu --test web`
#![cfg(target_arch = "wasm32")]

use flowplay::flows::FlowKind;
use flowplay::web::playground::live_grid::MAX_STRIDE;
use flowplay::web::playground::protocol::{Event, Reply, Request};
use flowplay::web::playground::session::{GRID_RES, Session, VIEW_SAMPLES};
use flowplay::web::playground::train_loop::TrainLoop;
use flowplay::web::shell::url::{BackendPref, PageConfig};
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
    let snap = s.snapshot(false, None).await.unwrap();
    assert_eq!((snap.res, snap.grid_stride), (GRID_RES, 1));
    assert_eq!(snap.grid.len(), GRID_RES * GRID_RES);
    assert!(snap.grid.iter().all(|v| v.is_finite()));
    // A frame draws the last stage of the layer-by-layer view as its samples instead of
    // sampling again: they are the same points.
    let stages = s.stages(VIEW_SAMPLES).await.unwrap();
    let last = &stages.last().unwrap().points;
    assert_eq!(last.len(), 2 * VIEW_SAMPLES);
    flowplay::fused::kernels::testing::assert_close(&snap.samples, last, "samples vs last stage");
    let reused = s.snapshot(false, Some(last.clone())).await.unwrap();
    assert_eq!(&reused.samples, last);
    assert!(reused.inversion_error < 1e-3);
    assert!(
        snap.inversion_error < 1e-3,
        "inversion error {}",
        snap.inversion_error
    );
}

/// While a model too large for a frame's budget trains, each live frame refreshes one phase of
/// the full-resolution heatmap (`web::live_grid`): the first one after the model moved changes
/// about 1/stride² of the cells and keeps the others, and a round of frames changes them all.
#[wasm_bindgen_test]
async fn live_frames_refresh_the_heatmap_a_phase_at_a_time() {
    flowplay::web::ensure_ctors();
    // The bench model (16 384 grid points ≈ 4.5 GFLOP: far over 30 ms in wasm), small batches.
    let (cfg, _) = PageConfig::from_url_parts(
        "",
        "#flow=realnvp&layers=8&hidden=128&batch=64&backend=cpu&steps=3&lr=0.01",
    );
    let mut s = Session::new(&cfg, burn::tensor::Device::flex(), None).unwrap();
    s.run(1).await.unwrap();
    let snap = s.snapshot(false, None).await.unwrap();
    assert_eq!((snap.res, snap.grid_stride), (GRID_RES, 1));
    // Live frames keep the whole grid and refresh the part that fits a frame's budget: after
    // the model changes, a live frame's cells take the new model's values and the others keep
    // the old ones; a round of stride² frames refreshes every cell.
    s.run(1).await.unwrap();
    let before = snap.grid.clone();
    let mut changed = vec![false; before.len()];
    let mut frames = 0;
    while !changed.iter().all(|&c| c) && frames < 2 * MAX_STRIDE * MAX_STRIDE {
        let live = s.snapshot(true, None).await.unwrap();
        assert_eq!((live.res, live.grid.len()), (GRID_RES, GRID_RES * GRID_RES));
        let stride = live.grid_stride;
        assert!((1..=MAX_STRIDE).contains(&stride), "stride {stride}");
        let mut fresh = 0;
        for (c, (a, b)) in live.grid.iter().zip(&before).enumerate() {
            if a != b && !changed[c] {
                fresh += 1;
                changed[c] = true;
            }
        }
        if frames == 0 {
            assert!(
                stride > 1,
                "the bench model's grid fits a frame ({} ms)",
                live.grid_ms
            );
            // The first live frame after the model moved refreshed one phase: about 1/stride².
            let phase = GRID_RES.div_ceil(stride).pow(2);
            assert!(
                fresh <= phase && fresh * 10 >= phase * 9,
                "first live frame changed {fresh} cells, its phase has {phase}"
            );
        }
        frames += 1;
    }
    assert!(
        changed.iter().all(|&c| c),
        "{} of {} cells refreshed after {frames} live frames",
        changed.iter().filter(|&&c| c).count(),
        changed.len()
    );
}

#[wasm_bindgen_test]
async fn webgpu_or_its_absence_is_explained() {
    flowplay::web::ensure_ctors();
    // The rule, checked against whatever adapter this browser offers: none or a software one
    // (headless Chromium's SwiftShader) → the CPU with the reason; a real one → WebGPU (or the
    // CPU with the initialisation error named).
    let info = flowplay::web::shell::backend::adapter_info().await;
    let chosen = flowplay::web::shell::backend::choose(BackendPref::Auto).await;
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

type Replies = std::rc::Rc<std::cell::RefCell<Vec<Reply>>>;

/// A training loop on this thread whose replies are kept, in order.
fn recording_loop() -> (TrainLoop, Replies) {
    flowplay::web::ensure_ctors();
    let replies = Replies::default();
    let sink = replies.clone();
    let train_loop = TrainLoop::new(std::rc::Rc::new(move |r| sink.borrow_mut().push(r)));
    (train_loop, replies)
}

/// Waits (up to `seconds`) until a reply satisfies `done`.
async fn wait_for(replies: &Replies, seconds: u32, done: impl Fn(&Reply) -> bool) -> bool {
    for _ in 0..seconds * 20 {
        if replies.borrow().iter().any(&done) {
            return true;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
    false
}

#[wasm_bindgen_test]
async fn the_training_loop_answers_requests_in_order() {
    let (train_loop, replies) = recording_loop();
    // Without a run a frame is still answered (empty), and training is refused with a reason.
    train_loop.push(Request::Frame {
        live: false,
        stages: false,
    });
    train_loop.push(Request::Train);
    let fragment = "target=moons&flow=realnvp&layers=2&hidden=16&backend=cpu&steps=6&lr=0.005";
    train_loop.push(Request::Start {
        run: 3,
        fragment: fragment.into(),
        drawn: None,
        preview: false,
    });
    train_loop.push(Request::Step);
    train_loop.push(Request::Frame {
        live: true,
        stages: true,
    });
    train_loop.push(Request::Train);
    let finished = |r: &Reply| {
        matches!(
            r,
            Reply::Event {
                run: 3,
                event: Event::Finished
            }
        )
    };
    assert!(
        wait_for(&replies, 30, finished).await,
        "{:?}",
        replies.borrow()
    );
    train_loop.push(Request::Export);
    let exported = |r: &Reply| matches!(r, Reply::Exported { run: 3, .. });
    assert!(wait_for(&replies, 30, exported).await);

    let got = replies.borrow().clone();
    assert_eq!(
        got[0],
        Reply::Frame {
            run: 0,
            frame: None
        }
    );
    assert!(
        matches!(&got[1], Reply::Event { run: 0, event: Event::Failed(e) } if e.contains("no run")),
        "{:?}",
        got[1]
    );
    assert!(
        matches!(&got[2], Reply::Event { run: 3, event: Event::Started { backend, .. } } if backend == "cpu")
    );
    // The Step took exactly one step, and the frame after it drew the run at that point.
    assert!(
        matches!(&got[3], Reply::Event { run: 3, event: Event::Progress(p) } if p.step == 1),
        "{:?}",
        got[3]
    );
    let Reply::Frame {
        run: 3,
        frame: Some(frame),
    } = &got[4]
    else {
        panic!("a frame after the step: {:?}", got[4]);
    };
    assert_eq!(frame.snapshot.grid.len(), GRID_RES * GRID_RES);
    assert!(frame.snapshot.grid.iter().all(|v| v.is_finite()));
    let stages = frame.stages.as_ref().unwrap().len();
    // Training ran to the step limit and stopped there.
    let last_step = got
        .iter()
        .filter_map(|r| match r {
            Reply::Event {
                event: Event::Progress(p),
                ..
            } => Some(p.step),
            _ => None,
        })
        .last();
    assert_eq!(last_step, Some(6));
    let Some(Reply::Exported { name, bytes, .. }) = got.last() else {
        panic!("no export");
    };
    assert_eq!(name, "moons-realnvp.flow");
    let (flow, meta) =
        flowplay::model_file::from_bytes(bytes.clone(), &burn::tensor::Device::flex()).unwrap();
    assert_eq!(flow.dim(), 2);
    assert_eq!(
        stages,
        flow.config().layers.len() + 1,
        "base samples and one stage per layer"
    );
    assert_eq!(meta.target.as_deref(), Some("moons"));
}

#[wasm_bindgen_test]
async fn a_preview_that_cannot_be_built_is_reported_when_trained() {
    let (train_loop, replies) = recording_loop();
    // Five drawn points: too few to train on.
    train_loop.push(Request::Start {
        run: 1,
        fragment: "target=draw&backend=cpu".into(),
        drawn: Some(vec![0.0; 10]),
        preview: true,
    });
    train_loop.push(Request::Frame {
        live: false,
        stages: false,
    });
    assert!(wait_for(&replies, 10, |r| matches!(r, Reply::Frame { .. })).await);
    assert_eq!(
        *replies.borrow(),
        vec![Reply::Frame {
            run: 1,
            frame: None
        }],
        "a preview fails quietly"
    );
    train_loop.push(Request::Train);
    let failed = |r: &Reply| matches!(r, Reply::Event { run: 1, event: Event::Failed(e) } if e.contains("draw at least"));
    assert!(
        wait_for(&replies, 10, failed).await,
        "{:?}",
        replies.borrow()
    );
}

/// The fused linear layer in the page's build (the CPU backend's wasm SIMD kernels: the narrow
/// 2→128 and 128→4 layers and a wide one, with and without ReLU) against Burn's `Linear` +
/// `relu` under autodiff: outputs and the gradients of a weighted sum with respect to the
/// input, the weight and the bias.
#[wasm_bindgen_test]
fn the_fused_linear_layer_matches_burns_in_the_browser() {
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tensor};
    use flowplay::fused::kernels::testing::assert_close;
    use flowplay::readback::to_host;
    let device = flowplay::device::cpu();
    device.seed(5);
    let device = device.autodiff();
    assert!(flowplay::fused::fused_on(&device));
    for (k, n) in [(2, 128), (128, 4), (3, 40), (40, 7), (24, 20)] {
        for relu in [false, true] {
            let layer = LinearConfig::new(k, n).init(&device);
            let rows = 37;
            let x = Tensor::<2>::random([rows, k], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let weights = Tensor::<2>::random([rows, n], Distribution::Normal(0.0, 1.0), &device);
            let run = |fused: bool| -> Vec<Vec<f32>> {
                let y = if fused {
                    flowplay::fused::linear::linear(&layer, x.clone(), relu)
                } else {
                    flowplay::fused::linear::unfused(&layer, x.clone(), relu)
                };
                let grads = (y.clone() * weights.clone()).sum().backward();
                let bias = layer.bias.as_ref().expect("a bias").val();
                vec![
                    to_host(y).unwrap(),
                    to_host(x.grad(&grads).expect("x has a gradient")).unwrap(),
                    to_host(layer.weight.val().grad(&grads).expect("W has a gradient")).unwrap(),
                    to_host(bias.grad(&grads).expect("b has a gradient")).unwrap(),
                ]
            };
            let (fused, reference) = (run(true), run(false));
            for (what, (f, r)) in ["y", "dx", "dW", "db"]
                .iter()
                .zip(fused.iter().zip(&reference))
            {
                assert_close(f, r, &format!("{what} (k {k}, n {n}, relu {relu})"));
            }
        }
    }
}

/// The fused coupling (mask, three-layer conditioner, affine transform, log-det) in the page's
/// wasm build against the same coupling in Burn's own operations, values and gradients, both
/// directions: the page trains every RealNVP coupling through it.
#[wasm_bindgen_test]
fn the_fused_coupling_matches_burns_operations_in_the_browser() {
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tensor, TensorData};
    use flowplay::fused::kernels::testing::assert_close;
    use flowplay::fused::linear::unfused;
    use flowplay::fused::mlp::Mlp;
    use flowplay::readback::to_host;
    let device = flowplay::device::cpu();
    device.seed(6);
    let device = device.autodiff();
    let (rows, d, h, c) = (29, 2, 32, 2.0f32);
    let net = Mlp {
        layers: vec![
            LinearConfig::new(d, h).init(&device),
            LinearConfig::new(h, h).init(&device),
            LinearConfig::new(h, 2 * d).init(&device),
        ],
    };
    let mask = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, d]), &device);
    let v = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let wy = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
    let wl = Tensor::<1>::random([rows], Distribution::Normal(0.0, 1.0), &device);
    for inverse in [false, true] {
        let run = |fused: bool| -> Vec<Vec<f32>> {
            let (y, ld) = if fused {
                flowplay::fused::coupling::couple(&net, &v, &mask, c, inverse)
                    .expect("the CPU backend fuses")
            } else {
                let mut a = v.clone() * mask.clone();
                for (i, layer) in net.layers.iter().enumerate() {
                    a = unfused(layer, a, i < 2);
                }
                let s = a.clone().narrow(1, 0, d).div_scalar(c).tanh().mul_scalar(c);
                let t = a.narrow(1, d, d);
                let free = mask.clone().neg().add_scalar(1.0);
                let (tau, l) = if inverse {
                    ((v.clone() - t) * s.clone().neg().exp(), s.neg())
                } else {
                    (v.clone() * s.clone().exp() + t, s)
                };
                let y = v.clone() * mask.clone() + tau * free.clone();
                (y, (l * free).sum_dim(1).reshape([rows]))
            };
            let loss = (y.clone() * wy.clone()).sum() + (ld.clone() * wl.clone()).sum();
            let grads = loss.backward();
            let mut out = vec![
                to_host(y).unwrap(),
                to_host(ld).unwrap(),
                to_host(v.grad(&grads).expect("dv")).unwrap(),
            ];
            for layer in &net.layers {
                out.push(to_host(layer.weight.val().grad(&grads).expect("dW")).unwrap());
                let bias = layer.bias.as_ref().expect("a bias").val();
                out.push(to_host(bias.grad(&grads).expect("db")).unwrap());
            }
            out
        };
        let (fused, reference) = (run(true), run(false));
        let names = [
            "y", "log|det|", "dv", "dW1", "db1", "dW2", "db2", "dW3", "db3",
        ];
        for (what, (f, r)) in names.iter().zip(fused.iter().zip(&reference)) {
            assert_close(f, r, &format!("{what} (inverse {inverse})"));
        }
    }
}
