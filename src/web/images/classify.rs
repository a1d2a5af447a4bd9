//! Classification with a flow, generative (a class-conditional model: `p(y | x) ∝ p(x | y)`,
//! Bayes' rule with a uniform `p(y)`) or hybrid (a label head on an unconditional flow's latent,
//! Nalisnick et al. 2019): the visitor draws a digit and sees `p(y | x)` as bars; the bundled
//! test images are classified for an accuracy; the gallery's classifiers for this data set are
//! listed with their test accuracies side by side; and for a generative model a grid shows
//! samples of each class (a row of 8 per class). All of it is [`crate::explore::classify`], the
//! code `flowplay eval --task classify` runs.

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::canvas::draw_images;
use super::digit_pad::DigitPad;
use super::state::{ImagePage, Work};
use crate::explore::classify::{Classifier, ClassifierScores, class_scores, posterior};
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
    let Some(classifier) = Classifier::of(&model.flow) else {
        return;
    };
    let generation = images.begin();
    spawn_local(async move {
        let t0 = now_ms();
        let set = &data.inliers;
        let n = set.len().min(TEST_IMAGES);
        let mut scores = ClassifierScores::new(set.shape.dim(), classifier.classes());
        let indices: Vec<usize> = (0..n).collect();
        for batch in indices.chunks(SLICE) {
            let x = dequantize_batch(set, batch, None, &model.device);
            let scored = match class_scores(&model.flow, classifier, x).await {
                Ok(s) => s,
                Err(e) => return images.fail(format!("classification failed: {e}")),
            };
            for (&i, s) in batch.iter().zip(&scored) {
                scores.add_scores(set.labels[i] as usize, s);
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
        if matches!(classifier, Classifier::Generative { .. }) {
            draw_class_samples(images);
        }
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
    let Some(classifier) = Classifier::of(&model.flow) else {
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
        match class_scores(&model.flow, classifier, x).await {
            Ok(scored) => {
                let p = posterior(&scored[0].log_scores);
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
    let classifier = move || {
        images.loaded.get();
        images.model().and_then(|m| Classifier::of(&m.flow))
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
        <p class="explain" id="classify-explain">{move || explanation(classifier())}</p>
        {move || classifier().is_none().then(|| view! {
            <p id="classify-unavailable" class="notice">
                "This model does not classify: pick a generative or hybrid classifier in the gallery."
            </p>
        })}
        <ClassifierTable />
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
        {move || matches!(classifier(), Some(Classifier::Generative { .. })).then(|| view! {
            <p class="explain">"Samples of each class (a row per class, 0 to 9, temperature 0.7):"</p>
        })}
        <canvas id="class-samples-canvas" width="490" height="490"
            class:hidden=move || !matches!(classifier(), Some(Classifier::Generative { .. }))></canvas>
    }
}

/// What the loaded model's classifier is, in a paragraph.
fn explanation(c: Option<Classifier>) -> &'static str {
    match c {
        Some(Classifier::Hybrid { .. }) => {
            "A hybrid model (Nalisnick et al. 2019) is one invertible network with a linear softmax head on its \
             latent: p(y | x) = softmax(f(x) W + b), trained on the bits/dim of p(x) plus the labels' negative \
             log-likelihood. The same network still gives an exact density p(x), so it can also sample and \
             score outliers; its flow is unconditional, so it has no samples per class."
        }
        _ => {
            "A class-conditional flow models p(x | y) for each class y (here: one Gaussian per class at every level \
             of a multiscale Glow). Bayes' rule turns it into a classifier, p(y | x) ∝ p(x | y) p(y), with nothing \
             trained to discriminate: the model only learned what each class looks like."
        }
    }
}

/// The gallery's classifiers for the loaded model's data set, side by side: kind, test accuracy
/// and bits/dim as the index lists them (each recomputed by `flowplay models check`), with a
/// button that loads the model.
#[component]
fn ClassifierTable() -> impl IntoView {
    let shell = expect_context::<crate::web::shell::context::Shell>();
    let images = expect_context::<ImagePage>();
    let rows = move || {
        images.loaded.get();
        let dataset = images.model().and_then(|m| m.dataset.clone());
        images
            .index
            .get()
            .map(|i| {
                i.image_models()
                    .filter(|e| {
                        e.classifier.is_some() && (dataset.is_none() || e.dataset == dataset)
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let load = move |stem: String| images.choose(shell, stem);
    view! {
        <table id="classifier-table" class="classifier-table">
            <thead><tr><th>"model"</th><th>"classifier"</th><th>"test accuracy"</th><th>"test bits/dim"</th><th></th></tr></thead>
            <tbody>
                <For each=rows key=|e| e.file.clone() let:e>
                    {
                        let stem = e.file.trim_end_matches(".flow").to_string();
                        let current = stem.clone();
                        let chosen = stem.clone();
                        view! {
                            <tr data-model=stem.clone() data-classifier=e.classifier.clone().unwrap_or_default()
                                data-accuracy=e.test_accuracy.map(|a| format!("{a:.4}")).unwrap_or_default()>
                                <td>{e.title.clone()}</td>
                                <td>{e.classifier.clone().unwrap_or_default()}</td>
                                <td>{e.test_accuracy.map(|a| format!("{:.1} %", a * 100.0)).unwrap_or_else(|| "–".into())}</td>
                                <td>{e.test_bpd.map(|b| format!("{b:.3}")).unwrap_or_else(|| "–".into())}</td>
                                <td>
                                    {move || (images.model_name.get() != current).then(|| {
                                        let chosen = chosen.clone();
                                        view! { <button class="load-classifier" on:click=move |_| load(chosen.clone())>"Load"</button> }
                                    })}
                                </td>
                            </tr>
                        }
                    }
                </For>
            </tbody>
        </table>
    }
}
