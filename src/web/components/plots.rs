//! Redrawing the plots (density heatmap with samples, loss curves, layer-by-layer stages) from
//! the current run; the canvases themselves are laid out by the app and the scrubber.

use leptos::prelude::*;

use crate::web::draw;
use crate::web::runner::now_ms;
use crate::web::session::{GRID_RES, Session, live_grid_res};
use crate::web::state::Page;

impl Page {
    /// Redraws the views from the current run at full resolution and records how long it took.
    pub async fn draw_now(&self) {
        self.draw(GRID_RES).await
    }

    /// Redraws while training: the heatmap's grid as fine as fits in
    /// [`LIVE_GRID_BUDGET_MS`](crate::web::session::LIVE_GRID_BUDGET_MS)
    /// (measured on the last live redraw), so drawing never slows training much, whatever the
    /// model's size; at rest the grid is [`GRID_RES`].
    pub async fn draw_live(&self) {
        self.draw(self.live_grid_res.get_value()).await
    }

    async fn draw(&self, res: usize) {
        let Some(runner) = self.runner.try_update_value(|r| r.take()).flatten() else {
            return;
        };
        let t0 = now_ms();
        let drawn = self.redraw(runner.session(), res).await;
        self.draw_ms.set(now_ms() - t0);
        self.runner.set_value(Some(runner));
        if let Err(e) = drawn {
            self.fail(e);
        }
    }

    async fn redraw(&self, s: &Session, res: usize) -> Result<(), String> {
        let snap = s.snapshot(res).await?;
        self.live_grid_res
            .set_value(live_grid_res(snap.res, snap.grid_ms));
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
