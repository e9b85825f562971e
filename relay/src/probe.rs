//! The probe: how a lab reports what happens without ever waiting for the
//! browser.
//!
//! A [`Probe`] stamps each event with the lab's clock and appends it to a
//! bounded buffer: when the buffer is full (the browser reads too slowly)
//! the event is dropped and counted, and the echo path goes on at once. The
//! [`EventStream`] on the other side hands the session batches, and adds a
//! [`EventKind::Dropped`] event with the count when something was lost.
//! Batches too large to send event by event are folded into counters
//! ([`crate::coalesce`]).
//!
//! The buffer is a vector behind a mutex rather than a channel, so that
//! each event is stamped and appended in one step: the events of a lab's
//! threads (its server's, its clients') come out in the order of their
//! timestamps, which a channel cannot promise (a thread may stamp, be
//! preempted, and send after another thread stamped later). The echo path
//! pays one short, mostly uncontended lock per event and wakes the stream
//! only when the buffer stops being empty; the stream takes the buffer
//! whole, with a swap. It costs what the channel cost (the
//! `probe_overhead` benchmark measured the two alike). (A session's own
//! replies to commands, such as an error for a malformed one, go out
//! beside the stream, as soon as they are made.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::os::fd::AsFd;

use protocol::{ConnId, Event, EventKind, Micros};
use tokio::sync::Notify;

use crate::buffers::OpenSockets;
use crate::coalesce::coalesce;
use crate::event_loop::LoopWatch;
use crate::platform::thread_clock::current_thread;
use crate::report::Report;

/// What the probes of a lab and its stream share.
#[derive(Debug)]
struct Shared {
    /// Events not yet taken by the stream, at most `capacity`.
    waiting: Mutex<Vec<Event>>,
    capacity: usize,
    /// Events lost since the stream last said so.
    dropped: AtomicU64,
    /// Told when the buffer stops being empty, and when the last probe goes.
    arrived: Notify,
    /// Probes alive.
    probes: AtomicUsize,
}

impl Shared {
    fn waiting(&self) -> MutexGuard<'_, Vec<Event>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a lab's probe has done, for the host's dashboard: read from outside
/// the lab without holding its event stream open.
#[derive(Debug, Default)]
pub struct Gauge {
    /// Events reported since the lab opened.
    pub emitted: AtomicU64,
    /// Events lost since the lab opened.
    pub dropped: AtomicU64,
    /// The kernel's id of the thread that runs the lab's echo server now
    /// (0 before the first one starts).
    pub server_thread: AtomicI32,
}

/// The reporting end, cloned into every task of a lab.
#[derive(Debug)]
pub struct Probe {
    /// `None` for a probe that reports nothing (to measure what probing
    /// costs).
    shared: Option<Arc<Shared>>,
    started: Instant,
    /// The connections whose buffers are sampled.
    buffers: OpenSockets,
    gauge: Arc<Gauge>,
    /// The tokio model's loop, as asyncio's (see [`crate::event_loop`]).
    event_loop: Arc<LoopWatch>,
}

/// The reading end, owned by the session that forwards events to the browser.
#[derive(Debug)]
pub struct EventStream {
    shared: Arc<Shared>,
    started: Instant,
    /// Events taken from the buffer for the next batches: the buffer is
    /// taken whole, by swapping it with `spare` (so the probes never wait on
    /// a copy, and neither vector has to grow again), and handed out a batch
    /// at a time.
    taken: VecDeque<Event>,
    spare: Vec<Event>,
    /// The batch being gathered; kept here so that a cancelled
    /// [`EventStream::next_batch`] loses nothing.
    gathering: Vec<Event>,
    /// When the batch being gathered goes out, kept so that a cancelled
    /// [`EventStream::next_batch`] does not start its window again.
    window_ends: Option<tokio::time::Instant>,
}

/// A probe and its stream, sharing a buffer of `capacity` events.
pub fn channel(capacity: usize) -> (Probe, EventStream) {
    let shared = Arc::new(Shared {
        waiting: Mutex::new(Vec::new()),
        capacity,
        dropped: AtomicU64::new(0),
        arrived: Notify::new(),
        probes: AtomicUsize::new(1),
    });
    let started = Instant::now();
    let probe = Probe {
        shared: Some(Arc::clone(&shared)),
        started,
        buffers: OpenSockets::default(),
        gauge: Arc::default(),
        event_loop: Arc::default(),
    };
    let stream = EventStream {
        shared,
        started,
        taken: VecDeque::new(),
        spare: Vec::new(),
        gathering: Vec::new(),
        window_ends: None,
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

impl Clone for Probe {
    fn clone(&self) -> Self {
        if let Some(shared) = &self.shared {
            shared.probes.fetch_add(1, Ordering::Relaxed);
        }
        Probe {
            shared: self.shared.clone(),
            started: self.started,
            buffers: self.buffers.clone(),
            gauge: Arc::clone(&self.gauge),
            event_loop: Arc::clone(&self.event_loop),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared
            && shared.probes.fetch_sub(1, Ordering::AcqRel) == 1
        {
            // The stream ends once it has taken what is left.
            shared.arrived.notify_one();
        }
    }
}

impl Probe {
    /// A probe that reports nothing: the baseline of the probe benchmark.
    pub fn disabled() -> Probe {
        Probe {
            shared: None,
            started: Instant::now(),
            buffers: OpenSockets::default(),
            gauge: Arc::default(),
            event_loop: Arc::default(),
        }
    }

    /// The tokio model's loop, which the runtime's park hooks report.
    pub fn event_loop(&self) -> &Arc<LoopWatch> {
        &self.event_loop
    }

    /// What this probe has done, for the host's dashboard.
    pub fn gauge(&self) -> &Arc<Gauge> {
        &self.gauge
    }

    /// Marks the calling thread as the one that runs the lab's echo server,
    /// whose CPU time the dashboard shows.
    pub fn serving_on_this_thread(&self) {
        self.gauge
            .server_thread
            .store(current_thread(), Ordering::Relaxed);
    }

    /// The server accepted `conn`: reports it and watches its buffers (the
    /// watch is also how a thread server unblocks a call parked on it, so
    /// a probe that reports nothing watches too).
    pub fn accepted(&self, conn: ConnId, peer: String, socket: &impl AsFd) {
        self.emit(EventKind::Accepted { conn, peer });
        self.buffers.watch(conn, socket);
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

    /// Reports `kind` as happening now. Never waits. Says whether the event
    /// is on its way (not dropped for a full buffer, nor by a probe that
    /// reports nothing).
    pub fn emit(&self, kind: EventKind) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        if matches!(
            kind,
            EventKind::TaskWaiting { .. }
                | EventKind::TaskWoken { .. }
                | EventKind::TaskFinished { .. }
                | EventKind::Shutdown { .. }
        ) {
            self.event_loop.observe(&kind);
        }
        let mut waiting = shared.waiting();
        if waiting.len() >= shared.capacity {
            drop(waiting);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.gauge.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.gauge.emitted.fetch_add(1, Ordering::Relaxed);
        let was_empty = waiting.is_empty();
        // Stamped under the lock: events from every thread of the lab come
        // out in the order of their timestamps.
        waiting.push(Event {
            at: self.now(),
            kind,
        });
        drop(waiting);
        if was_empty {
            shared.arrived.notify_one();
        }
        true
    }
}

/// How the lab's samplers (its sockets' buffers, its loop watch) report.
impl Report for Probe {
    fn now(&self) -> Micros {
        Probe::now(self)
    }

    fn emit(&self, kind: EventKind) -> bool {
        Probe::emit(self, kind)
    }
}

impl EventStream {
    /// Moves waiting events into the batch being gathered, up to `max`.
    fn take_waiting(&mut self, max: usize) {
        let room = max.saturating_sub(self.gathering.len());
        if self.taken.len() < room {
            // At most `max` + the buffer's capacity are ever held here.
            std::mem::swap(&mut *self.shared.waiting(), &mut self.spare);
            self.taken.extend(self.spare.drain(..));
        }
        let count = self.taken.len().min(room);
        self.gathering.extend(self.taken.drain(..count));
    }

    /// Waits for the next batch: the first event, then whatever else arrives
    /// within `window` (so that a busy lab sends a few large frames rather
    /// than many small ones), at most `max` events, plus a `dropped` event if
    /// any were lost. `None` once every probe is gone and the buffer is empty.
    ///
    /// Cancel-safe, for use in `select!`: events taken by a call that is
    /// dropped before it returns come first in the next batch.
    pub async fn next_batch(&mut self, window: Duration, max: usize) -> Option<Vec<Event>> {
        while self.gathering.is_empty() {
            self.take_waiting(max);
            if !self.gathering.is_empty() {
                break;
            }
            if self.shared.probes.load(Ordering::Acquire) == 0 {
                // The last probe's events were pushed before it went.
                self.take_waiting(max);
                if self.gathering.is_empty() {
                    return None;
                }
                break;
            }
            // A probe that pushes into the empty buffer after the look
            // above leaves a permit, so this does not miss it.
            self.shared.arrived.notified().await;
        }
        // Take what is already there; when that is not a full batch, sleep
        // out the window and take what came meanwhile. Sleeping rather than
        // awaiting each event spares the lab one task wake-up per event.
        self.take_waiting(max);
        if self.gathering.len() < max && !window.is_zero() {
            let ends = *self
                .window_ends
                .get_or_insert_with(|| tokio::time::Instant::now() + window);
            tokio::time::sleep_until(ends).await;
            self.take_waiting(max);
        }
        self.window_ends = None;
        let mut batch = coalesce(std::mem::take(&mut self.gathering));
        let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            // Stamped as the newest event it follows, so that times never go
            // back (older events may still wait in `taken`).
            let at = batch
                .last()
                .map_or_else(|| micros_since(self.started), |event| event.at);
            batch.push(Event {
                at,
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
        tokio::time::sleep(Duration::from_millis(2)).await;
        let batch = stream.next_batch(Duration::ZERO, 100).await.unwrap();
        assert_eq!(batch[2].at, batch[1].at, "the count follows the last event");
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
    async fn events_from_many_threads_come_in_the_order_of_their_timestamps() {
        let (probe, mut stream) = channel(1 << 20);
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let probe = probe.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        probe.emit(closed(thread));
                    }
                })
            })
            .collect();
        drop(probe);
        for thread in threads {
            thread.join().unwrap();
        }
        let mut times = Vec::new();
        // Small batches, so that none is folded.
        while let Some(batch) = stream.next_batch(Duration::ZERO, 500).await {
            times.extend(batch.iter().map(|event| event.at));
        }
        assert_eq!(times.len(), 80_000);
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_cancelled_in_its_window_goes_out_when_that_window_ends() {
        let (probe, mut stream) = channel(16);
        let window = Duration::from_millis(100);
        let start = tokio::time::Instant::now();
        probe.emit(closed(1));
        // A reply to the browser interrupts the batch, as in a session.
        let interrupted =
            tokio::time::timeout(Duration::from_millis(60), stream.next_batch(window, 100)).await;
        assert!(interrupted.is_err());
        let batch = stream.next_batch(window, 100).await.unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(start.elapsed(), window, "the window did not start again");
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
