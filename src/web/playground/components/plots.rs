//! Drawing the plots (density heatmap with samples, loss curves, layer-by-layer stages) from a
//! [`Frame`] the training loop sent; the canvases themselves are laid out by the app and the
//! scrubber.

use leptos::prelude::*;

use crate::web::playground::draw;
use crate::web::playground::protocol::Frame;
use crate::web::playground::state::Page;
use crate::web::shell::host::now_ms;

impl Page {
    /// Draws `frame` and records the redraw time (the frame's computation plus drawing). While
    /// training, a frame's grid is only the part of the heatmap that fits
    /// [`LIVE_GRID_BUDGET_MS`](crate::web::playground::live_grid::LIVE_GRID_BUDGET_MS) (the worker's
    /// [`LiveGrid`](crate::web::playground::live_grid::LiveGrid)), so frames never slow training much
    /// whatever the model's size.
    pub fn show(&self, frame: Frame) {
        let t0 = now_ms();
        let compute_ms = frame.compute_ms;
        let shown = self.draw_frame(frame);
        self.frame_ms.set_value(compute_ms);
        self.draw_ms.set(compute_ms + (now_ms() - t0));
        if let Err(e) = shown {
            self.fail(e);
        }
    }

    fn draw_frame(&self, frame: Frame) -> Result<(), String> {
        let snap = &frame.snapshot;
        self.grid_stride.set(snap.grid_stride);
        self.inversion_error.set(Some(snap.inversion_error));
        let cfg = self.config.get_untracked();
        draw::density(
            "density-canvas",
            &frame,
            &format!("{} on {}", cfg.flow, cfg.target.name()),
        )?;
        if cfg.embed {
            return Ok(());
        }
        draw::losses("loss-canvas", &frame.history)?;
        if let Some(stages) = frame.stages {
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
