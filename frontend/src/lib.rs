//! Loopscope's browser app: watch an event loop juggle sockets. Two pages,
//! each its own WebAssembly so that neither downloads the other's code:
//! the playground (`src/main.rs`, [`app::App`]) that every attendee opens,
//! and the host's dashboard at `/host` (`src/bin/host.rs`,
//! [`host::HostDashboard`]).
//!
//! * [`world`]: the one piece of state, reduced from protocol events (pure);
//! * [`recording`]: the run's events and snapshots of the world, for the
//!   timeline, Step back, and saving and opening runs (pure);
//! * [`live`]: the live source, a WebSocket to the relay that served the page;
//! * [`simulated`]: the simulated source, the simulator running in the page;
//! * [`site`]: where the page came from (its base, under which every
//!   address it asks for lies) and whether a relay comes with it;
//! * [`address`]: what the page's address says of the view (the lesson
//!   step, the text size) beside the scenario (pure);
//! * [`app`]: the root component, which wires sources to the world and the
//!   world to the views;
//! * [`components`]: the views, small function components fed by props;
//! * [`lesson`]: the plain sentences that explain what the server does;
//! * [`chapter`]: the lesson panel's seven steps, their questions and the
//!   proofs a run gives (pure);
//! * [`glossary`]: the lesson's terms, defined once for the help and the
//!   hover texts;
//! * [`workshop`]: the join token and the host's lesson, the page's side;
//! * [`host`]: the host's dashboard, at `/host`.

mod address;
pub mod app;
mod chapter;
mod components;
mod frame_clock;
mod glossary;
pub mod host;
mod inbox;
mod latency;
mod lesson;
mod live;
mod recording;
mod saving;
mod simulated;
mod site;
mod trace;
mod workshop;
mod world;

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
