//! Events from a live lab that have arrived and wait to be applied.
//!
//! A lab sends what happened as it happens: a thousand clients connecting at
//! once arrive as one burst that would take a whole frame (or several) to
//! apply. The page applies the burst a slice at a time, a few milliseconds
//! of each frame, so every frame stays short; order is kept, nothing is
//! skipped. A page that cannot run frames (a tab in the background runs
//! none) or keeps falling behind is not allowed to hoard: past
//! [`MAX_WAITING`] events, everything is applied at once, as it arrives.

use std::collections::VecDeque;

use protocol::Event;

/// Most events left waiting for a frame.
pub const MAX_WAITING: usize = 50_000;

/// Events applied between two looks at the clock.
pub const SLICE: usize = 128;

/// The events waiting, oldest first.
#[derive(Debug, Default)]
pub struct Inbox {
    waiting: VecDeque<Event>,
}

impl Inbox {
    /// How many events wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether `more` events may wait too, or everything must be applied
    /// now.
    pub fn has_room_for(&self, more: usize) -> bool {
        self.waiting.len() + more <= MAX_WAITING
    }

    /// Lets `events` wait behind the others.
    pub fn push(&mut self, events: Vec<Event>) {
        self.waiting.extend(events);
    }

    /// The oldest `at_most` events, taken out.
    pub fn take(&mut self, at_most: usize) -> Vec<Event> {
        let count = at_most.min(self.waiting.len());
        self.waiting.drain(..count).collect()
    }

    /// Everything that waits, taken out.
    pub fn take_all(&mut self) -> Vec<Event> {
        self.waiting.drain(..).collect()
    }

    /// Forgets what waits (the run it belonged to is over).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{EventKind, Micros};

    fn events(from: Micros, count: usize) -> Vec<Event> {
        (0..count as Micros)
            .map(|at| Event {
                at: from + at,
                kind: EventKind::LoopIteration {
                    iteration: from + at,
                },
            })
            .collect()
    }

    #[test]
    fn slices_come_out_in_arrival_order_and_nothing_is_lost() {
        let mut inbox = Inbox::default();
        inbox.push(events(0, 300));
        inbox.push(events(300, 300));
        let mut applied = inbox.take(SLICE);
        assert_eq!(applied.len(), SLICE);
        assert_eq!(inbox.len(), 600 - SLICE);
        applied.extend(inbox.take(100));
        applied.extend(inbox.take_all());
        let times: Vec<Micros> = applied.iter().map(|event| event.at).collect();
        assert_eq!(times, (0..600).collect::<Vec<_>>());
        assert!(inbox.take(SLICE).is_empty());
    }

    #[test]
    fn the_inbox_says_when_it_is_full() {
        let mut inbox = Inbox::default();
        assert!(inbox.has_room_for(MAX_WAITING));
        assert!(!inbox.has_room_for(MAX_WAITING + 1));
        inbox.push(events(0, MAX_WAITING - 10));
        assert!(inbox.has_room_for(10));
        assert!(!inbox.has_room_for(11));
        inbox.clear();
        assert_eq!(inbox.len(), 0);
    }
}
