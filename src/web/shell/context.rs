//! What every mode of the page shares: the configuration the URL carries and the notices about
//! parameters it ignored, as one [`Shell`] context; the address bar kept equal to the
//! configuration.

use leptos::prelude::*;

use super::url::PageConfig;

/// The page-wide context (both fields are `Copy` handles; the playground's state holds the same
/// two signals).
#[derive(Clone, Copy)]
pub struct Shell {
    pub config: RwSignal<PageConfig>,
    pub notices: RwSignal<Vec<String>>,
}

impl Shell {
    /// The configuration in the address bar (bad parameters become notices).
    pub fn from_url() -> Self {
        let loc = gloo_utils::window().location();
        let query = loc.search().unwrap_or_default();
        let hash = loc.hash().unwrap_or_default();
        let (config, notices) = PageConfig::from_url_parts(&query, &hash);
        Self {
            config: RwSignal::new(config),
            notices: RwSignal::new(notices),
        }
    }
}

/// Keeps the URL fragment equal to the configuration (no history entry), from the first change
/// on: the address a visitor arrived with is left as it was until they change something.
pub fn sync_url_with_config(shell: Shell) {
    Effect::watch(
        move || shell.config.with(PageConfig::to_fragment),
        |fragment, _, _| {
            if let Ok(h) = gloo_utils::window().history() {
                let url = format!("#{fragment}");
                let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        },
        false,
    );
}
