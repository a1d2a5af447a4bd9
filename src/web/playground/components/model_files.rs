//! Export / import of `.flow` files and the bundled example model.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::web::playground::components::share::Share;
use crate::web::playground::files::BUNDLED_MODEL;
use crate::web::playground::state::Page;
use crate::web::shell::files::{fetch_bytes, read_file};

#[component]
pub fn ModelFiles() -> impl IntoView {
    let page = expect_context::<Page>();
    let import = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        spawn_local(async move {
            let name = file.name();
            match read_file(file).await {
                Ok(bytes) => page.load_model(bytes, &name),
                Err(e) => page.fail(e),
            }
        });
    };
    let example = move |_| {
        spawn_local(async move {
            match fetch_bytes(BUNDLED_MODEL).await {
                Ok(bytes) => page.load_model(bytes, BUNDLED_MODEL),
                Err(e) => page.fail(format!("could not fetch {BUNDLED_MODEL}: {e}")),
            }
        });
    };
    view! {
        <div class="files">
            <button id="export" on:click=move |_| page.export()>"Export .flow"</button>
            <label for="import">"Import .flow"</label>
            <input id="import" type="file" accept=".flow" on:change=import />
            <button id="load-example" on:click=example>"Load the bundled model"</button>
            <Share />
        </div>
    }
}
