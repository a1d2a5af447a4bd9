//! Redrawing the plots (density heatmap with samples, loss curves, layer-by-layer stages) from
//! the current run; the canvases themselves are laid out by the app and the scrubber.

use leptos::prelude::*;

use crate::web::draw;
use crate::web::runner::now_ms;
use crate::web::session::Session;
use crate::web::state::Page;

impl Page {
    /// Redraws the views from the current run and records how long it took.
    pub async fn draw_now(&self) {
        let Some(runner) = self.runner.try_update_value(|r| r.take()).flatten() else {
            return;
        };
        let t0 = now_ms();
        let drawn = self.redraw(runner.session()).await;
        self.draw_ms.set(now_ms() - t0);
        self.runner.set_value(Some(runner));
        if let Err(e) = drawn {
            self.fail(e);
        }
    }

    async fn redraw(&self, s: &Session) -> Result<(), String> {
        let snap = s.snapshot().await?;
        self.inversion_error.set(Some(snap.inversion_error));
        let cfg = self.config.get_untracked();
        draw::density(
            "density-canvas",
            s,
            &snap,
            &format!("{} on {}", cfg.flow, cfg.target.name()),
        )?;
        if !cfg.embed {
            draw::losses("loss-canvas", s)?;
            let stages = s.stages(300).await?;
            self.stage_count.set(stages.len());
            let largest = stages
                .iter()
                .skip(1)
                .map(|st| st.max_abs_logdet)
                .fold(0.0f32, f32::max);
            self.max_log_scale.set(Some(largest));
            if self.layer.get_untracked() >= stages.len() {
                self.layer.set(stages.len().saturating_sub(1));
            }
            self.stages.set_value(stages);
            self.draw_stage();
        }
        Ok(())
    }

    /// Draws the selected stage of the layer-by-layer view.
    pub fn draw_stage(&self) {
        let k = self.layer.get_untracked();
        if let Err(e) = self
            .stages
            .with_value(|st| draw::stage("layer-canvas", st, k))
        {
            self.fail(e);
        }
    }
}
