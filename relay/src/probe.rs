//! The probe: how a lab reports what happens without ever waiting for the
//! browser.
//!
//! A [`Probe`] stamps each event with the lab's clock and puts it in a bounded
//! buffer with `try_send`: when the buffer is full (the browser reads too
//! slowly) the event is dropped and counted, and the echo path goes on at
//! once. The [`EventStream`] on the other side hands the session batches, and
//! adds a [`EventKind::Dropped`] event with the count when something was lost.
//! Batches too large to send event by event are folded into counters
//! ([`crate::coalesce`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::os::fd::AsFd;

use protocol::{ConnId, Event, EventKind, Micros};

use crate::buffers::OpenSockets;
use crate::coalesce::coalesce;
use tokio::sync::mpsc;

/// The reporting end, cloned into every task of a lab.
#[derive(Clone, Debug)]
pub struct Probe {
    /// `None` for a probe that reports nothing (to measure what probing
    /// costs).
    events: Option<mpsc::Sender<Event>>,
    dropped: Arc<AtomicU64>,
    started: Instant,
    /// The connections whose buffers are sampled.
    buffers: OpenSockets,
}

/// The reading end, owned by the session that forwards events to the browser.
#[derive(Debug)]
pub struct EventStream {
    events: mpsc::Receiver<Event>,
    dropped: Arc<AtomicU64>,
    started: Instant,
    /// The batch being gathered; kept here so that a cancelled
    /// [`EventStream::next_batch`] loses nothing.
    gathering: Vec<Event>,
}

/// A probe and its stream, sharing a buffer of `capacity` events.
pub fn channel(capacity: usize) -> (Probe, EventStream) {
    let (sender, receiver) = mpsc::channel(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let probe = Probe {
        events: Some(sender),
        dropped: Arc::clone(&dropped),
        started,
        buffers: OpenSockets::default(),
    };
    let stream = EventStream {
        events: receiver,
        dropped,
        started,
        gathering: Vec::new(),
    };
    (probe, stream)
}

fn micros_since(started: Instant) -> Micros {
    started
        .elapsed()
        .as_micros()
        .try_into()
        .unwrap_or(Micros::MAX)
}

impl Probe {
    /// A probe that reports nothing: the baseline of the probe benchmark.
    pub fn disabled() -> Probe {
        Probe {
            events: None,
            dropped: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
            buffers: OpenSockets::default(),
        }
    }

    /// The server accepted `conn`: reports it and watches its buffers.
    pub fn accepted(&self, conn: ConnId, peer: String, socket: &impl AsFd) {
        self.emit(EventKind::Accepted { conn, peer });
        if self.events.is_some() {
            self.buffers.watch(conn, socket);
        }
    }

    /// The server closes `conn`: stops watching it and reports it.
    pub fn closed(&self, conn: ConnId) {
        self.buffers.forget(conn);
        self.emit(EventKind::Closed { conn });
    }

    /// The connections whose buffers are sampled.
    pub fn buffers(&self) -> &OpenSockets {
        &self.buffers
    }

    /// Microseconds since the lab started.
    pub fn now(&self) -> Micros {
        micros_since(self.started)
    }

    /// Reports `kind` as happening now. Never waits.
    pub fn emit(&self, kind: EventKind) {
        let Some(events) = &self.events else {
            return;
        };
        let event = Event {
            at: self.now(),
            kind,
        };
        if events.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl EventStream {
    fn take_waiting(&mut self, max: usize) {
        while self.gathering.len() < max {
            match self.events.try_recv() {
                Ok(event) => self.gathering.push(event),
                Err(_) => break,
            }
        }
    }

    /// Waits for the next batch: the first event, then whatever else arrives
    /// within `window` (so that a busy lab sends a few large frames rather
    /// than many small ones), at most `max` events, plus a `dropped` event if
    /// any were lost. `None` once every probe is gone and the buffer is empty.
    ///
    /// Cancel-safe, for use in `select!`: events taken by a call that is
    /// dropped before it returns come first in the next batch.
    pub async fn next_batch(&mut self, window: Duration, max: usize) -> Option<Vec<Event>> {
        if self.gathering.is_empty() {
            let first = self.events.recv().await?;
            self.gathering.push(first);
        }
        // Take what is already there; when that is not a full batch, sleep
        // out the window and take what came meanwhile. Sleeping rather than
        // awaiting each event spares the lab one task wake-up per event.
        self.take_waiting(max);
        if self.gathering.len() < max && !window.is_zero() {
            tokio::time::sleep(window).await;
            self.take_waiting(max);
        }
        let mut batch = coalesce(std::mem::take(&mut self.gathering));
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            batch.push(Event {
                at: micros_since(self.started),
                kind: EventKind::Dropped { count: dropped },
            });
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(conn: u64) -> EventKind {
        EventKind::Closed { conn: ConnId(conn) }
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts_instead_of_waiting() {
        let (probe, mut stream) = channel(2);
        for conn in 0..5 {
            probe.emit(closed(conn)); // would hang here if emit waited
        }
        let batch = stream.next_batch(Duration::ZERO, 100).await.unwrap();
        let kinds: Vec<_> = batch.into_iter().map(|event| event.kind).collect();
        assert_eq!(
            kinds,
            vec![closed(0), closed(1), EventKind::Dropped { count: 3 }]
        );
    }

    #[tokio::test]
    async fn a_batch_collects_what_arrives_within_its_window_in_order() {
        let (probe, mut stream) = channel(64);
        for conn in 0..10 {
            probe.emit(closed(conn));
        }
        let batch = stream
            .next_batch(Duration::from_millis(5), 4)
            .await
            .unwrap();
        assert_eq!(batch.len(), 4, "a batch stops at its maximum size");
        let rest = stream
            .next_batch(Duration::from_millis(5), 100)
            .await
            .unwrap();
        let conns: Vec<_> = batch
            .iter()
            .chain(&rest)
            .map(|event| event.kind.clone())
            .collect();
        assert_eq!(conns, (0..10).map(closed).collect::<Vec<_>>());
        assert!(
            batch.windows(2).all(|pair| pair[0].at <= pair[1].at),
            "timestamps never go back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_cancelled_while_gathering_loses_nothing() {
        let (probe, mut stream) = channel(16);
        probe.emit(closed(1));
        // Give up on the batch while it waits out its window, as a writer's
        // select! does when something more urgent comes.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(5),
            stream.next_batch(Duration::from_secs(1), 100),
        )
        .await;
        assert!(gave_up.is_err());
        probe.emit(closed(2));
        drop(probe);
        let batch = stream.next_batch(Duration::ZERO, 100).await.unwrap();
        let kinds: Vec<_> = batch.into_iter().map(|event| event.kind).collect();
        assert_eq!(kinds, vec![closed(1), closed(2)]);
    }

    #[tokio::test]
    async fn the_stream_ends_when_every_probe_is_gone() {
        let (probe, mut stream) = channel(4);
        probe.emit(closed(1));
        drop(probe);
        assert_eq!(
            stream.next_batch(Duration::ZERO, 10).await.unwrap().len(),
            1
        );
        assert!(stream.next_batch(Duration::ZERO, 10).await.is_none());
    }
}
