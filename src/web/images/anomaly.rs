//! Anomaly detection: the model scores the bundled test subset of its own data set (inliers)
//! and of the other one (outliers); histograms, the ROC curve and the AUROC of the raw score
//! (bits/dim) and of the complexity-corrected score (Serrà et al. 2020) side by side. A 28×28
//! pad scores the visitor's own drawing against the inliers.

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::canvas::draw_anomaly;
use super::digit_pad::DigitPad;
use super::state::{ImagePage, Scores, Work};
use crate::explore::complexity::corrected_score;
use crate::explore::roc::{auroc, percentile_of, roc_curve};
use crate::explore::scoring::bits_per_dim_of;
use crate::images::ImageSet;
use crate::web::shell::context::Shell;
use crate::web::shell::host::now_ms;
use crate::web::shell::url::ScoreKind;

/// Images scored per slice between turns of the event loop.
const SLICE: usize = 25;

/// Scores the first `limit` images of both subsets, then draws the figure.
pub fn run_anomaly(page: Shell, images: ImagePage) {
    let (Some(model), Some(data)) = (images.model(), images.data()) else {
        return;
    };
    let cfg = page.config.get_untracked();
    let (limit, kind) = (cfg.images.limit, cfg.images.score);
    let generation = images.begin();
    images.auroc.set(None);
    spawn_local(async move {
        let t0 = now_ms();
        let sets = [data.inliers.take(limit), data.outliers.take(limit)];
        let total = sets[0].len() + sets[1].len();
        let mut scores = Scores::default();
        let mut done = 0;
        for (k, set) in sets.iter().enumerate() {
            let indices: Vec<usize> = (0..set.len()).collect();
            for chunk in indices.chunks(SLICE) {
                let raw = match bits_per_dim_of(&model.flow, set, chunk, &model.device).await {
                    Ok(r) => r,
                    Err(e) => return images.fail(format!("scoring failed: {e}")),
                };
                if !images.current(generation) {
                    return;
                }
                let cx = chunk
                    .iter()
                    .zip(&raw)
                    .map(|(&i, &b)| corrected_score(b, set.image(i), set.shape));
                if k == 0 {
                    scores.raw_in.extend(&raw);
                    scores.cx_in.extend(cx);
                } else {
                    scores.raw_out.extend(&raw);
                    scores.cx_out.extend(cx);
                }
                done += chunk.len();
                images.progress.set(done as f64 / total as f64);
                TimeoutFuture::new(0).await;
            }
        }
        images.aurocs.set(Some((
            auroc(&scores.raw_in, &scores.raw_out),
            auroc(&scores.cx_in, &scores.cx_out),
        )));
        images.scores.set_value(Some(scores));
        images.took_ms.set(Some(now_ms() - t0));
        show_scores(images, kind);
    });
}

/// Draws the histograms and the ROC curve of the stored scores for `kind` and reports its
/// AUROC; switching the score kind only redraws, the model does not score again.
fn show_scores(images: ImagePage, kind: ScoreKind) {
    let Some(data) = images.data() else {
        return;
    };
    let shown = images.scores.with_value(|scores| {
        let s = scores.as_ref()?;
        let (inl, out, name) = match kind {
            ScoreKind::Raw => (&s.raw_in, &s.raw_out, "bits/dim"),
            ScoreKind::Complexity => (&s.cx_in, &s.cx_out, "bits/dim − PNG bits/dim"),
        };
        let chosen = auroc(inl, out);
        let drawn = draw_anomaly(
            "anomaly-canvas",
            (inl, &data.inlier_name),
            (out, &data.outlier_name),
            name,
            &roc_curve(inl, out),
            chosen.unwrap_or(f64::NAN),
        );
        Some(drawn.map(|()| chosen))
    });
    match shown {
        Some(Ok(chosen)) => {
            images.auroc.set(chosen);
            images.work.set(Work::Done);
        }
        Some(Err(e)) => images.fail(e),
        None => {}
    }
}

/// Scores the drawing on the pad and reports its percentile among the inliers' scores.
fn score_drawing(page: Shell, images: ImagePage, pixels: Vec<u8>) {
    let Some(model) = images.model() else {
        return;
    };
    if model.shape.dim() != pixels.len() {
        return images.fail(format!(
            "the pad draws 28×28 grey images; this model takes {}",
            model.shape
        ));
    }
    let kind = page.config.with_untracked(|c| c.images.score);
    spawn_local(async move {
        let set = ImageSet {
            shape: model.shape,
            pixels: pixels.clone(),
            labels: vec![0],
        };
        let raw = match bits_per_dim_of(&model.flow, &set, &[0], &model.device).await {
            Ok(r) => r[0],
            Err(e) => return images.fail(format!("scoring failed: {e}")),
        };
        let cx = corrected_score(raw, &pixels, model.shape);
        let text = images.scores.with_value(|s| match s {
            Some(s) => {
                let (sample, value) = match kind {
                    ScoreKind::Raw => (&s.raw_in, raw),
                    ScoreKind::Complexity => (&s.cx_in, cx),
                };
                format!(
                    "your drawing: {raw:.3} bits/dim, corrected score {cx:.3}; {:.0}% of the inliers score at or below it",
                    percentile_of(sample, value)
                )
            }
            None => format!("your drawing: {raw:.3} bits/dim, corrected score {cx:.3}"),
        });
        images.drawing_score.set(Some(text));
    });
}

#[component]
pub fn AnomalyView() -> impl IntoView {
    let page = expect_context::<Shell>();
    let images = expect_context::<ImagePage>();
    Effect::new(move |_| {
        if images.loaded.get() > 0 {
            run_anomaly(page, images);
        }
    });
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |a| format!("{a:.3}"));
    let names = move || {
        // The subsets arrive with the model: re-read them whenever one finishes loading.
        images.loaded.get();
        images
            .data()
            .map(|d| (d.inlier_name.clone(), d.outlier_name.clone()))
            .unwrap_or_default()
    };
    view! {
        <p class="explain">
            "A flow scores how likely an image is; an out-of-distribution detector flags the unlikely ones. The model \
             scores its own data set's test images (inliers) and the other data set's (outliers). Raw bits/dim famously \
             fails for a Fashion-MNIST model, which finds MNIST digits more likely than garments (Nalisnick et al. 2019): \
             simple images are likely under any model. The corrected score subtracts the image's complexity, its PNG size \
             in bits per pixel (Serrà et al. 2020). AUROC: 1 separates perfectly, 0.5 is chance, below 0.5 ranks backwards."
        </p>
        <div class="image-controls">
            <label for="score-kind">"Score"</label>
            <select id="score-kind" on:change=move |ev| {
                let v = event_target_value(&ev);
                let mut probe = page.config.get_untracked();
                if probe.set("score", &v).is_ok() {
                    let kind = probe.images.score;
                    page.config.set(probe);
                    if images.scores.with_value(Option::is_some) {
                        show_scores(images, kind);
                    } else {
                        run_anomaly(page, images);
                    }
                }
            }>
                <option value="complexity" prop:selected=move || page.config.with(|c| c.images.score == ScoreKind::Complexity)>"complexity-corrected"</option>
                <option value="raw" prop:selected=move || page.config.with(|c| c.images.score == ScoreKind::Raw)>"raw bits/dim"</option>
            </select>
        </div>
        <table class="aurocs" id="aurocs">
            <tr><th>"inliers → outliers"</th><th>"AUROC, raw"</th><th>"AUROC, corrected"</th></tr>
            <tr>
                <td>{move || { let (i, o) = names(); format!("{i} → {o}") }}</td>
                <td id="auroc-raw">{move || fmt(images.aurocs.get().and_then(|a| a.0))}</td>
                <td id="auroc-complexity">{move || fmt(images.aurocs.get().and_then(|a| a.1))}</td>
            </tr>
        </table>
        <p class="explain">"For the other direction, pick the other data set's model in the gallery."</p>
        <canvas id="anomaly-canvas" width="760" height="300"></canvas>
        <DigitPad
            explain="Draw a digit (white on black, 28×28; mouse, touch, or the arrow keys and Space) and score it: its bits/dim, \
             its corrected score, and where it falls among the inliers' scores."
            action="Score my drawing" action_id="score-drawing"
            on_submit=Callback::new(move |pixels: Vec<u8>| score_drawing(page, images, pixels))
            on_clear=Callback::new(move |()| images.drawing_score.set(None))
            result=Signal::derive(move || images.drawing_score.get()) />
    }
}
