//! The playground's model files: the bundled 2D model, exporting the current run as a `.flow`
//! file, and handing an imported file to the training loop to load as a paused run.

use leptos::prelude::*;

use super::protocol::Request;
use super::state::Page;

/// The pretrained 2D model shipped in `www/models/`.
pub const BUNDLED_MODEL: &str = "models/moons-realnvp.flow";

impl Page {
    /// Downloads the current run's flow as a `.flow` file (with its target and loss history);
    /// the training loop writes it, [`Page::on_reply`] saves it.
    pub fn export(self) {
        if !self.has_run.get_value() {
            return self.fail("export: train or import a flow first".into());
        }
        self.request(Request::Export);
    }

    /// Loads a `.flow` file into a paused run (it can then be trained further or exported).
    /// The training loop checks and loads it; a file it refuses is named in the page's error.
    pub fn load_model(self, bytes: Vec<u8>, name: &str) {
        self.clear_run();
        self.run_requested.set_value(true);
        self.request(Request::Load {
            run: self.generation.get_untracked(),
            fragment: self.config.with_untracked(|c| c.to_fragment()),
            name: name.to_string(),
            bytes,
        });
    }
}
