//! Loopscope's browser app: watch an event loop juggle sockets. Two pages,
//! each its own WebAssembly so that neither downloads the other's code:
//! the playground (`src/main.rs`, [`app::App`]) that every attendee opens,
//! and the host's dashboard at `/host` (`src/bin/host.rs`,
//! [`host::HostDashboard`]).
//!
//! Its layers, top to bottom (each uses only its own layer and those
//! below; `ARCHITECTURE.md` tells where a change goes):
//!
//! * the shells: [`app`], the playground's root component, and [`host`],
//!   the host's dashboard at `/host`: a few hooks each, and the one module
//!   that carries out what the page asks of the browser;
//! * [`views`]: the views, small function components fed by props that
//!   send the page's actions up;
//! * [`page`]: the page's state and every action on it, in plain Rust;
//! * [`sources`]: where events come from (a live lab, the simulation) and
//!   the page's other ways out (the site, the workshop's feed, files);
//! * [`model`]: the world, the recording, the lesson and its words, in
//!   plain Rust, tested natively.

pub mod app;
pub mod host;
mod model;
mod page;
mod sources;
mod views;

/// Bytes of the page's WebAssembly memory: what the app holds (its
/// recording, snapshots and world). The benchmarks read it as
/// `window.wasmBindings.wasm_memory_bytes()`.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}
