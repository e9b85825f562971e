//! What a lab's samplers ask of the probe they report through: the lab's
//! clock and a way to report an event that never waits.
//!
//! The [`Probe`](crate::probe::Probe) carries the lab's open sockets
//! ([`crate::buffers`]) and its loop watch ([`crate::event_loop`]), and
//! those report what they see through it: they name this trait, not the
//! probe, so the probe's module uses theirs and never the other way round.

use protocol::{EventKind, Micros};

/// Where a sampler's events go: a lab's probe.
pub trait Report {
    /// Microseconds since the lab started.
    fn now(&self) -> Micros;

    /// Reports `kind` as happening now, without waiting. Says whether the
    /// event is on its way (not dropped for a full buffer).
    fn emit(&self, kind: EventKind) -> bool;
}

/// A [`Report`] for tests: keeps every event it takes, on a clock that
/// stands still at `now`, and refuses (as a full buffer does) the next
/// `refusing` events.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Recorder {
    /// What the clock says.
    pub now: Micros,
    /// Events still to refuse.
    pub refusing: std::cell::Cell<usize>,
    /// The events taken, in order.
    pub events: std::cell::RefCell<Vec<EventKind>>,
}

#[cfg(test)]
impl Report for Recorder {
    fn now(&self) -> Micros {
        self.now
    }

    fn emit(&self, kind: EventKind) -> bool {
        if self.refusing.get() > 0 {
            self.refusing.set(self.refusing.get() - 1);
            return false;
        }
        self.events.borrow_mut().push(kind);
        true
    }
}

#[cfg(test)]
impl Recorder {
    /// The events taken so far, leaving none.
    pub fn take(&self) -> Vec<EventKind> {
        std::mem::take(&mut self.events.borrow_mut())
    }
}
