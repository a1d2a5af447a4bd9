//! The live progress line of `flowplay train`: one line per half second on a terminal
//! (rewritten in place), one per 15 s in a log.

use std::fmt;

/// Running sums of the steps of the current epoch that were kept (not rolled back).
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochWindow {
    pub bpd_sum: f64,
    pub recon_sum: f64,
    pub steps: usize,
}

impl EpochWindow {
    pub fn add(&mut self, bpd: f64, recon: f64) {
        self.bpd_sum += bpd;
        self.recon_sum += recon;
        self.steps += 1;
    }
    pub fn mean_bpd(&self) -> f64 {
        self.bpd_sum / self.steps.max(1) as f64
    }
    pub fn mean_recon(&self) -> f64 {
        self.recon_sum / self.steps.max(1) as f64
    }
}

/// One progress report within an epoch.
pub struct ProgressLine {
    /// 1-based epoch and the epoch count.
    pub epoch: usize,
    pub epochs: usize,
    /// Steps done within this epoch, of `steps_per_epoch`.
    pub step_in_epoch: usize,
    pub steps_per_epoch: usize,
    pub window: EpochWindow,
    /// Mean seconds per step so far in this invocation.
    pub seconds_per_step: f64,
    pub batch: usize,
    /// Seconds left at the current rate.
    pub eta_seconds: f64,
    /// Steps taken by this invocation.
    pub steps_done: usize,
}

impl fmt::Display for ProgressLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = self.step_in_epoch as f64 / self.steps_per_epoch.max(1) as f64;
        let bar: String = (0..20)
            .map(|k| if (k as f64) < frac * 20.0 { '#' } else { '.' })
            .collect();
        let recon = if self.window.recon_sum > 0.0 {
            format!(", recon {:.3}", self.window.mean_recon())
        } else {
            String::new()
        };
        write!(
            f,
            "epoch {}/{} [{bar}] {}/{} · {:.3} bpd (train{recon}) · {:.0} ms/step · {:.1} img/s · ETA {} · {} steps done",
            self.epoch,
            self.epochs,
            self.step_in_epoch,
            self.steps_per_epoch,
            self.window.mean_bpd(),
            self.seconds_per_step * 1e3,
            self.batch as f64 / self.seconds_per_step,
            fmt_duration(self.eta_seconds),
            self.steps_done
        )
    }
}

/// `1h05m` or `3m07s`.
pub fn fmt_duration(s: f64) -> String {
    let s = s.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_the_bar_the_means_and_the_eta() {
        let mut window = EpochWindow::default();
        window.add(1.5, 0.0);
        window.add(1.3, 0.0);
        let line = ProgressLine {
            epoch: 2,
            epochs: 4,
            step_in_epoch: 5,
            steps_per_epoch: 10,
            window,
            seconds_per_step: 0.25,
            batch: 64,
            eta_seconds: 3725.0,
            steps_done: 15,
        }
        .to_string();
        assert!(line.starts_with("epoch 2/4 [##########..........] 5/10 · 1.400 bpd (train)"));
        assert!(line.contains("250 ms/step · 256.0 img/s · ETA 1h02m · 15 steps done"));
        assert_eq!(fmt_duration(187.0), "3m07s");
    }
}
