//! Saving a run: its file's lines handed to the browser in parts as they
//! are written, compressed by the browser's own gzip (`CompressionStream`),
//! and offered as a file to download. The page's WebAssembly memory holds
//! one part at a time, and the app carries no compressor of its own (only
//! the small decompressor that opening a file needs, where every byte is
//! counted against the caps as it unpacks).

use std::io::Write;

use js_sys::{Array, Function, Reflect, Uint8Array};
use loopscope_runfile::{FILE_SUFFIX, Header, Writer};
use protocol::ServerModel;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ReadableStream, ReadableWritablePair, Response, WritableStream};

use crate::model::recording::Recording;

/// Bytes per part handed to the browser.
const PART_BYTES: usize = 256 << 10;

/// The run file's lines, in parts the browser holds.
#[derive(Default)]
struct Parts {
    parts: Vec<Uint8Array>,
    buffer: Vec<u8>,
}

impl Parts {
    fn flush_part(&mut self) {
        if !self.buffer.is_empty() {
            self.parts.push(Uint8Array::from(&self.buffer[..]));
            self.buffer.clear();
        }
    }

    fn into_array(mut self) -> Array {
        self.flush_part();
        self.parts.into_iter().collect()
    }
}

impl Write for Parts {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_BYTES {
            self.flush_part();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The name a run of `model` is saved under: `loopscope-selector.loopscope.gz`.
pub fn file_name(model: Option<ServerModel>) -> String {
    format!(
        "loopscope-{}{FILE_SUFFIX}",
        model.map_or("run", ServerModel::key)
    )
}

/// Writes `recording` as a run file with `header`, in parts for the
/// browser (the part the page does at once).
pub fn run_parts(recording: &Recording, header: &Header) -> Array {
    let mut writer = Writer::plain(header, Parts::default());
    recording.write_to(&mut writer);
    writer.end().into_array()
}

/// Compresses `parts` with the browser's gzip and offers them as `name`.
pub async fn offer_gzipped(parts: Array, name: String) -> Result<(), String> {
    let js = |error: JsValue| format!("{error:?}");
    let blob = Blob::new_with_u8_array_sequence(&parts).map_err(js)?;
    // `new CompressionStream("gzip")`, which web-sys offers only behind its
    // unstable flag.
    let constructor: Function = Reflect::get(&js_sys::global(), &"CompressionStream".into())
        .map_err(js)?
        .dyn_into()
        .map_err(|_| "this browser cannot compress (no CompressionStream)".to_owned())?;
    let gzip = Reflect::construct(&constructor, &Array::of1(&"gzip".into())).map_err(js)?;
    let readable: ReadableStream = Reflect::get(&gzip, &"readable".into())
        .map_err(js)?
        .unchecked_into();
    let writable: WritableStream = Reflect::get(&gzip, &"writable".into())
        .map_err(js)?
        .unchecked_into();
    let compressed = blob
        .stream()
        .pipe_through(&ReadableWritablePair::new(&readable, &writable));
    let response = Response::new_with_opt_readable_stream(Some(&compressed)).map_err(js)?;
    let file: Blob = JsFuture::from(response.blob().map_err(js)?)
        .await
        .map_err(js)?
        .unchecked_into();
    crate::sources::download::offer_blob(&file, &name)
}
