//! The model: plain Rust that knows no browser. The [`world`] reduced from
//! protocol events, the [`recording`] that keeps them for time travel and
//! saving, the [`lesson`]'s seven steps and the proofs a run gives, the
//! card's sentences ([`narration`]), and the words and numbers the views
//! share. Everything here is tested natively.
//!
//! * [`world`]: the one piece of state, reduced from protocol events;
//! * [`recording`]: the run's events and snapshots of the world, for the
//!   timeline, Step back, and saving and opening runs;
//! * [`scenario`]: a simulation's settings and the link that reproduces them;
//! * [`lesson`]: the seven steps, their questions and the proofs a run gives;
//! * [`narration`]: the plain sentences that explain what the server does
//!   (the card, the ring, the countdown);
//! * [`glossary`]: the lesson's terms, defined once for the help and the
//!   hover texts;
//! * [`address`]: what the page's address says of the view (the lesson
//!   step, the text size) beside the scenario;
//! * [`numbers`]: how the page writes counts, shares and latencies;
//! * [`latency`]: echo latencies' percentiles in constant memory;
//! * [`trace`]: the run as a Perfetto trace.

pub mod address;
pub mod glossary;
pub mod latency;
pub mod lesson;
pub mod narration;
pub mod numbers;
pub mod recording;
pub mod scenario;
pub mod trace;
pub mod world;
