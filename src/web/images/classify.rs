//! Generative classification with a class-conditional model: the visitor draws a digit and
//! sees `p(y | x) ∝ p(x | y)` as bars (Bayes' rule, uniform `p(y)`); the bundled test images
//! are classified for an accuracy; and a grid shows samples of each class (a row of 8 per
//! class). All of it is [`crate::explore::classify`], the code `flowplay eval --task classify`
//! runs.

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::canvas::draw_images;
use super::digit_pad::DigitPad;
use super::state::{ImagePage, Work};
use crate::explore::classify::{ClassifierScores, class_log_likelihoods, posterior};
use crate::explore::latent::{grid_labels, sample_classes};
use crate::images::{ImageSet, dequantize_batch};
use crate::rng::Rng;
use crate::web::shell::host::now_ms;

/// Test images classified per slice between turns of the event loop.
const SLICE: usize = 10;
/// Test images classified for the accuracy.
const TEST_IMAGES: usize = 100;

/// Classifies the first [`TEST_IMAGES`] bundled test images of the model's own data set.
fn classify_test_images(images: ImagePage, accuracy: RwSignal<Option<(f64, usize)>>) {
    let (Some(model), Some(data)) = (images.model(), images.data()) else {
        return;
    };
    let Some(k) = model.flow.config().classes() else {
        return;
    };
    let generation = images.begin();
    spawn_local(async move {
        let t0 = now_ms();
        let set = &data.inliers;
        let n = set.len().min(TEST_IMAGES);
        let mut scores = ClassifierScores::new(set.shape.dim(), k);
        let indices: Vec<usize> = (0..n).collect();
        for batch in indices.chunks(SLICE) {
            let x = dequantize_batch(set, batch, None, &model.device);
            let ll = match class_log_likelihoods(&model.flow, x, k).await {
                Ok(ll) => ll,
                Err(e) => return images.fail(format!("classification failed: {e}")),
            };
            for (&i, l) in batch.iter().zip(&ll) {
                scores.add(set.labels[i] as usize, l);
            }
            if !images.current(generation) {
                return;
            }
            let r = scores.report();
            accuracy.set(Some((r.accuracy, r.images)));
            images.progress.set(r.images as f64 / n as f64);
            TimeoutFuture::new(0).await;
        }
        images.took_ms.set(Some(now_ms() - t0));
        images.work.set(Work::Done);
        draw_class_samples(images);
    });
}

/// A row of 8 samples per class at temperature 0.7, in slices of 8.
fn draw_class_samples(images: ImagePage) {
    let Some(model) = images.model() else {
        return;
    };
    let Some(k) = model.flow.config().classes() else {
        return;
    };
    let generation = images.begin();
    spawn_local(async move {
        let mut rng = Rng::new(1);
        let mut drawn: Vec<Vec<f32>> = Vec::with_capacity(8 * k);
        while drawn.len() < 8 * k {
            let labels = grid_labels(drawn.len(), 8, k);
            let batch = sample_classes(&model.flow, 8, 0.7, Some(&labels), &mut rng, &model.device);
            match batch.await {
                Ok(b) => drawn.extend(b),
                Err(e) => return images.fail(format!("sampling failed: {e}")),
            }
            if !images.current(generation) {
                return;
            }
            if let Err(e) = draw_images("class-samples-canvas", &drawn, model.shape, 8, 2) {
                return images.fail(e);
            }
            images.samples_drawn.set(drawn.len());
            TimeoutFuture::new(0).await;
        }
        images.work.set(Work::Done);
    });
}

/// `p(y | x)` of the drawing, into `bars`, and the verdict into `verdict`.
fn classify_drawing(
    images: ImagePage,
    pixels: Vec<u8>,
    bars: RwSignal<Vec<f64>>,
    verdict: RwSignal<Option<String>>,
) {
    let Some(model) = images.model() else {
        return;
    };
    let Some(k) = model.flow.config().classes() else {
        return;
    };
    if model.shape.dim() != pixels.len() {
        return images.fail(format!(
            "the pad draws 28×28 grey images; this model takes {}",
            model.shape
        ));
    }
    spawn_local(async move {
        let set = ImageSet {
            shape: model.shape,
            pixels,
            labels: vec![0],
        };
        let x = dequantize_batch(&set, &[0], None, &model.device);
        match class_log_likelihoods(&model.flow, x, k).await {
            Ok(ll) => {
                let p = posterior(&ll[0]);
                let (best, pb) = p
                    .iter()
                    .copied()
                    .enumerate()
                    .fold((0, 0.0), |b, (i, v)| if v > b.1 { (i, v) } else { b });
                verdict.set(Some(format!("the model reads a {best} (p = {pb:.3})")));
                bars.set(p);
            }
            Err(e) => images.fail(format!("classification failed: {e}")),
        }
    });
}

#[component]
pub fn ClassifyView() -> impl IntoView {
    let images = expect_context::<ImagePage>();
    let bars = RwSignal::new(Vec::<f64>::new());
    let verdict = RwSignal::new(None::<String>);
    let accuracy = RwSignal::new(None::<(f64, usize)>);
    let conditional = move || {
        images.loaded.get();
        images
            .model()
            .is_some_and(|m| m.flow.config().classes().is_some())
    };
    Effect::new(move |_| {
        if images.loaded.get() > 0 {
            bars.set(Vec::new());
            verdict.set(None);
            accuracy.set(None);
            classify_test_images(images, accuracy);
        }
    });
    let bar_rows = move || {
        bars.get()
            .into_iter()
            .enumerate()
            .map(|(y, p)| {
                view! {
                    <div class="class-bar" data-class=y data-p=format!("{p:.4}")>
                        <span>{y}</span>
                        <span class="bar" style:width=format!("{:.1}%", p * 100.0)></span>
                        <span>{format!("{p:.3}")}</span>
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <p class="explain">
            "A class-conditional flow models p(x | y) for each class y (here: one Gaussian per class at every level of a \
             multiscale Glow). Bayes' rule turns it into a classifier, p(y | x) ∝ p(x | y) p(y), with nothing trained \
             to discriminate: the model only learned what each class looks like."
        </p>
        {move || (!conditional()).then(|| view! {
            <p id="classify-unavailable" class="notice">
                "This model is not class-conditional: pick the MNIST generative classifier in the gallery."
            </p>
        })}
        <p id="classify-accuracy" data-accuracy=move || accuracy.get().map(|a| format!("{:.4}", a.0)).unwrap_or_default()>
            {move || accuracy.get().map(|(a, n)| format!("accuracy on {n} bundled test images: {:.1}%", a * 100.0))}
        </p>
        <DigitPad
            explain="Draw a digit (white on black, 28×28; mouse, touch, or the arrow keys and Space) and classify it."
            action="Classify my drawing" action_id="classify-drawing"
            on_submit=Callback::new(move |pixels: Vec<u8>| classify_drawing(images, pixels, bars, verdict))
            on_clear=Callback::new(move |()| { verdict.set(None); bars.set(Vec::new()); })
            result=Signal::derive(move || verdict.get()) />
        <div id="class-bars" class="class-bars">{bar_rows}</div>
        <p class="explain">"Samples of each class (a row per class, 0 to 9, temperature 0.7):"</p>
        <canvas id="class-samples-canvas" width="490" height="490"></canvas>
    }
}
