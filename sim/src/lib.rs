//! The simulator: the four echo-server models of the lesson and the client
//! behaviours, on a virtual clock, emitting the same [`protocol::Event`]s as
//! the live relay so that every view works on both.
//!
//! Deterministic: a [`Scenario`] (model, clients, handler style, seed) gives
//! the same event sequence, byte for byte, natively and in wasm. No I/O, no
//! real clock, no web dependencies: tested and benchmarked natively.
//!
//! * [`Simulation`]: build from a [`Scenario`], then [`Simulation::step`] one
//!   loop iteration or [`Simulation::run_until`] a time, and take the events
//!   with [`Simulation::drain_events`];
//! * `model`: the four servers, each following its Python program in
//!   `sim/python/` ([`Listing`]) line by line;
//! * `net`: sockets with finite buffers, a listen backlog, resets, readiness;
//! * `client`: the client behaviours.

mod client;
mod engine;
mod listing;
mod model;
mod net;
mod rng;
mod scenario;

pub use client::message_byte;
pub use engine::{CPU_WINDOW, Simulation, Stats};
pub use listing::{HappeningLines, Listing};
pub use model::Costs;
pub use protocol::{ClientBehaviour, HandlerStyle, ServerModel};
pub use scenario::{ClientSpec, Scenario};
