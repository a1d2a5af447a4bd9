//! Share / Embed: the link to the current configuration and an `<iframe>` snippet for a blog
//! post, copied to the clipboard and shown.

use leptos::prelude::*;

use crate::web::playground::state::Page;

/// The link and the iframe for the current configuration, one per line.
fn share_text(page: &Page) -> String {
    let href = gloo_utils::window().location().href().unwrap_or_default();
    let base = href
        .split(['#', '?'])
        .next()
        .unwrap_or_default()
        .to_string();
    let fragment = page.config.get_untracked().to_fragment();
    let link = format!("{base}#{fragment}");
    let iframe = format!(
        "<iframe src=\"{base}?embed=1#{fragment}&autostart=1\" width=\"420\" height=\"520\" style=\"border:0\" title=\"flowplay\"></iframe>"
    );
    format!("{link}\n{iframe}")
}

/// The Share / Embed button and, once pressed, the text it copied.
#[component]
pub fn Share() -> impl IntoView {
    let page = expect_context::<Page>();
    let share = move |_| {
        let text = share_text(&page);
        let _ = gloo_utils::window()
            .navigator()
            .clipboard()
            .write_text(&text);
        page.share.set(Some(text));
    };
    view! {
        <button id="share" on:click=share>"Share / Embed"</button>
        {move || page.share.get().map(|t| view! { <textarea id="share-text" readonly rows="3">{t}</textarea> })}
    }
}
