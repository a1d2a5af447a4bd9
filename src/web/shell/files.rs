//! Files in and out of the page: fetching with progress, reading a file the user picked,
//! offering bytes as a download.

use wasm_bindgen::JsCast;

/// `fetch(url)` → bytes; an HTTP error status is an error.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    fetch_bytes_with_progress(url, |_, _| {}).await
}

/// `fetch(url)` → bytes, calling `progress(bytes so far, total if the server said)` as the body
/// streams in (the browser's `ReadableStream`, read chunk by chunk).
pub async fn fetch_bytes_with_progress(
    url: &str,
    mut progress: impl FnMut(usize, Option<usize>),
) -> Result<Vec<u8>, String> {
    let response = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    let Some(body) = response.body() else {
        return response.binary().await.map_err(|e| e.to_string());
    };
    let js = |e: wasm_bindgen::JsValue| format!("reading the response failed: {e:?}");
    let reader = body.get_reader();
    let read: js_sys::Function = js_sys::Reflect::get(&reader, &"read".into())
        .map_err(js)?
        .unchecked_into();
    let mut out = Vec::with_capacity(total.unwrap_or(0));
    loop {
        let promise: js_sys::Promise = read.call0(&reader).map_err(js)?.unchecked_into();
        let chunk = wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(js)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js)?;
        out.extend(js_sys::Uint8Array::new(&value).to_vec());
        progress(out.len(), total);
    }
    Ok(out)
}

/// The bytes of a file the user picked.
pub async fn read_file(file: web_sys::File) -> Result<Vec<u8>, String> {
    gloo_file::futures::read_as_bytes(&gloo_file::File::from(file))
        .await
        .map_err(|e| format!("could not read the file: {e}"))
}

/// Offers `bytes` as a download named `name`.
pub fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let blob = gloo_file::Blob::new(bytes);
    let url = gloo_file::ObjectUrl::from(blob);
    let a: web_sys::HtmlAnchorElement = gloo_utils::document()
        .create_element("a")
        .map_err(|e| format!("download failed: {e:?}"))?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // `url` is revoked when it is dropped, after the click has started the download.
    Ok(())
}
