//! Offers files to the person to save: a run's trace, and the parts of a
//! run file (the browser's download of an object URL).

use gloo_timers::callback::Timeout;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

use crate::model::recording::Recording;
use crate::model::trace::{file_name, run_trace};
use crate::model::world::World;

/// Offers the trace of `world` and `recording` to the person as a file to
/// save.
pub fn save_trace(world: &World, recording: &Recording) -> Result<(), String> {
    let text =
        serde_json::to_string(&run_trace(world, recording)).map_err(|error| error.to_string())?;
    let parts = js_sys::Array::of1(&JsValue::from_str(&text));
    offer_download(&parts, "application/json", &file_name(world.model))
}

/// Offers `parts` (strings or byte arrays) as a file called `name` to save.
pub fn offer_download(parts: &js_sys::Array, mime: &str, name: &str) -> Result<(), String> {
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_blob_sequence_and_options(parts, &options)
        .map_err(|error| format!("{error:?}"))?;
    offer_blob(&blob, name)
}

/// Offers `blob` as a file called `name` to save.
pub fn offer_blob(blob: &Blob, name: &str) -> Result<(), String> {
    let js = |error: JsValue| format!("{error:?}");
    let url = Url::create_object_url_with_blob(blob).map_err(js)?;
    let anchor: HtmlAnchorElement = web_sys::window()
        .and_then(|window| window.document())
        .ok_or("no document")?
        .create_element("a")
        .map_err(js)?
        .unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The download has started reading the file by then.
    Timeout::new(60_000, move || {
        let _ = Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}
